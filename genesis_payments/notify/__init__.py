"""Notifications (§7): Discord webhooks within Discord's limits, or the outbox in fake mode."""
