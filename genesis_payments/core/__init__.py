"""The core: exact money, UTC timestamps, the contract's records, errors, settings, redaction, whole-file state."""
