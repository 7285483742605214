"""Fake mode's outside world for tests: the library's own `local_world`, always started fresh."""

from __future__ import annotations

from genesis_payments.payments.fakes.local_world import LocalWorld as World
from genesis_payments.payments.fakes.local_world import local_world


def running_world(settings, specs=None):
    """A facilitator and SDK sellers of this test's own (never a running serve's)."""
    return local_world(settings, specs, reuse=False)


__all__ = ["World", "running_world"]
