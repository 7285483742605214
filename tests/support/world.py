"""Fake mode's outside world for tests: the library's own `local_world`, always started fresh."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from genesis_payments.payments.fakes.local_world import LocalWorld as World
from genesis_payments.payments.fakes.local_world import local_world
from tests.support.chain import chain_for


@contextmanager
def running_world(settings, specs=None) -> Iterator[World]:
    """A facilitator and SDK sellers of this test's own (never a running serve's), on the session's
    local chain, whose state is reverted when the block ends."""
    with chain_for(settings), local_world(settings, specs, reuse=False) as world:
        yield world


__all__ = ["World", "running_world"]
