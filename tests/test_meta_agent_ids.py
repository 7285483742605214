"""Decision ids drawn from a buffer of OS random bytes: unique, 32 hex digits, fresh after a fork."""

from __future__ import annotations

import os
import re

from genesis_payments.approvals.meta_agent import GenesisMetaAgent
from tests.support.approvals import FakeVendors


def test_ids_are_unique_hex_across_buffer_refills(settings) -> None:
    agent = GenesisMetaAgent(settings, vendors=FakeVendors())
    ids = [agent._new_id() for _ in range(1000)]  # four refills of the 4 KiB buffer
    assert len(set(ids)) == 1000
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)


def test_a_forked_child_does_not_repeat_its_parents_ids(settings) -> None:
    agent = GenesisMetaAgent(settings, vendors=FakeVendors())
    agent._new_id()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next id and leave at once
        os.write(write, agent._new_id().encode())
        os._exit(0)
    os.close(write)
    child_id = os.read(read, 64).decode()
    os.close(read)
    os.waitpid(pid, 0)
    assert child_id != agent._new_id()
