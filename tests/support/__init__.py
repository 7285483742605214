"""Shared test helpers (a package so any test module can import them)."""
