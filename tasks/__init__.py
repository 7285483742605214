"""Prefect tasks: thin wrappers adding retries, caching and logging to one I/O step each."""

from genesis_payments.core.redaction import install_log_redaction

# Every record of a process running our flows (Prefect's, httpx's, ours) is redacted as it is made.
install_log_redaction()
