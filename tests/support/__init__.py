"""Shared test helpers (import from `tests.support.<module>`)."""
