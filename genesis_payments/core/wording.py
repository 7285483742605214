"""Counts and durations in the words a person reads: "1 discrepancy", "2 discrepancies", "1 hour".

Every message, report line and UI text that puts a number before a noun goes through `counted`,
so none reads "2 discrepancy(ies)" or "1 payments".
"""

from __future__ import annotations


def counted(count: int, singular: str, plural: str | None = None) -> str:
    """`count` and the noun in the form that agrees with it (`plural` defaults to singular + "s")."""
    return f"{count} {singular if count == 1 else plural or singular + 's'}"


def duration(seconds: int) -> str:
    """Whole hours, minutes and seconds, largest first, zero parts left out: "1 hour 30 minutes"."""
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    parts = [counted(n, unit) for n, unit in ((hours, "hour"), (minutes, "minute"), (secs, "second")) if n]
    return " ".join(parts) or "0 seconds"
