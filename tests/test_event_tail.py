"""The event log tail: small blocks give the same lines, numbers and offsets as one read, a failing
block leaves no gap, and a torn last line waits for its newline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from genesis_payments.ledgers.event_tail import EventLogTail
from tests.support.exporter import payment_event


def lines(count: int) -> list[bytes]:
    out = []
    for n in range(count):
        event = payment_event(f"e{n}", f"p{n // 2}", "authorized" if n % 2 == 0 else "captured",
                              f"2026-11-26T03:{n // 60 % 60:02d}:{n % 60:02d}Z", amount_usd=f"{n}.5")
        out.append(json.dumps(event, separators=(",", ":")).encode())
    out[7] = b"{not json"
    out[500] = json.dumps({**json.loads(out[500]), "amount_usd": "-1"}).encode()
    return out


def read_all(tail: EventLogTail) -> tuple[list[int], list[int], list[int]]:
    tail.check()
    rows, amounts, bad = [], [], []
    for block in tail.new_blocks():
        for table in block.tables:
            rows += table.column("line").to_pylist()
            amounts += table.column("amount_micro").to_pylist()
        bad += [b.line for b in block.bad_lines]
    return rows, amounts, bad


def test_small_blocks_read_like_one_block(tmp_path: Path) -> None:
    path = tmp_path / "transactions.jsonl"
    data = lines(1200)
    path.write_bytes(b"\n".join(data) + b"\n" + data[0][:30])  # and a torn last line
    whole = read_all(EventLogTail(path))
    small = EventLogTail(path, block_bytes=4096)  # about 12 lines a block: ~100 blocks
    assert read_all(small) == whole
    assert whole[2] == [8, 501] and len(whole[0]) == 1198
    assert small.offset == path.stat().st_size - 30 and small.line_number == 1200
    with path.open("ab") as handle:  # the torn line is finished, and one more follows
        handle.write(data[0][30:] + b"\n" + data[1] + b"\n")
    rows, _, bad = read_all(small)
    assert rows == [1201, 1202] and bad == []


def test_an_error_while_preparing_a_block_is_raised_to_the_reader_and_nothing_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "transactions.jsonl"
    path.write_bytes(b"\n".join(lines(1200)) + b"\n")
    tail = EventLogTail(path, block_bytes=4096)
    tail.check()

    def prepare(table):
        if table.column("line").to_pylist()[0] > 60:  # the blocks from line ~60 on cannot be prepared
            raise RuntimeError("cannot prepare")
        return table

    taken = []
    with pytest.raises(RuntimeError, match="cannot prepare"):
        for block in tail.new_blocks(prepare=prepare):
            taken.append(block.lines)
    assert taken and sum(taken) <= 61 + 24  # the blocks before the failing one, no more
    assert tail.line_number == sum(taken)
    # The next read either goes on after them or, not sure the file is unchanged, starts over
    # (reported as a reset, so the caller drops what it counted): never a gap.
    reset = tail.check()
    rest = read_all(tail)
    assert rest[0][0] == (1 if reset else sum(taken) + 1) and rest[0][-1] == 1200


def test_a_line_longer_than_a_block_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "transactions.jsonl"
    data = lines(1200)
    data[300] = json.dumps({**json.loads(data[300]), "error": "x" * 9000}).encode()
    path.write_bytes(b"\n".join(data) + b"\n")
    whole = read_all(EventLogTail(path))
    assert read_all(EventLogTail(path, block_bytes=4096)) == whole
    assert 301 in whole[0] and len(whole[0]) == 1198
