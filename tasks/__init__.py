"""Prefect tasks: thin wrappers adding retries, caching and logging to one I/O step each."""
