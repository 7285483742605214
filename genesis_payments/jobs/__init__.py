"""The scheduled jobs' rules (§5): reconciliation, stale payments, monitoring, weekly, summaries, alert state."""
