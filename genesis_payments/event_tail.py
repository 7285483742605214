"""Reading `transactions.jsonl` from a saved byte offset, in columnar blocks.

The same guarantees as `jsonl.IncrementalReader` (it reuses its offset, identity and witness
checks): only complete lines are read, a torn last line is left for the next call, and a file that
was truncated or replaced (another inode, shorter than the offset, or different bytes just before
the offset) is read again from the top with `reset` reported so the caller drops what it derived.
What differs is the output: blocks of validated columns (`event_columns`) instead of one pydantic
model per line, so a million-line first read takes seconds and a scrape costs only the new lines.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

from genesis_payments.event_columns import BlockRead, read_event_block
from genesis_payments.jsonl import IncrementalReader
from genesis_payments.records import PaymentEvent

BLOCK_BYTES = 16 << 20  # large enough for pyarrow to amortise, small enough to bound memory
READ_AHEAD_FROM = 1 << 20  # a block at least this big is parsed while the one before is tallied


class EventLogTail(IncrementalReader[PaymentEvent]):
    def __init__(self, path: Path, block_bytes: int = BLOCK_BYTES) -> None:
        super().__init__(path, PaymentEvent)
        self.block_bytes = block_bytes
        self.exists = False

    def check(self) -> bool:
        """Stat the file; True when what was read before is no longer its content (rescan)."""
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            reset = self.offset > 0 or self._identity is not None
            self._restart(None)
            self.exists = False
            return reset
        self.exists = True
        identity = (stat.st_dev, stat.st_ino)
        reset = self._changed(stat)
        if reset:
            self._restart(identity)
        self._identity = identity
        return reset

    def restart(self) -> None:
        """Forget the offset: the next `check` and `new_blocks` read the file from the top."""
        self._restart(None)
        self.exists = False

    def new_blocks(self) -> Iterator[BlockRead]:
        """The complete lines appended since the last call, block by block; call `check` first.

        The offset moves past a block only once the caller has taken it, so a read error part way
        leaves the tail consistent with what the caller has seen. While the caller works on one big
        block, the next is parsed in a background thread (the parse frees the GIL).
        """
        if not self.exists:
            return
        with open(self.path, "rb") as handle, ThreadPoolExecutor(1, thread_name_prefix="tail-read-ahead") as ahead:
            offset, line = self.offset, self.line_number
            pending: tuple[Future[BlockRead], int] | None = None
            while (piece := self._piece(handle, offset)) is not None:
                data, cut = piece
                if cut >= READ_AHEAD_FROM:
                    parsed = ahead.submit(read_event_block, data, line + 1, self.path, end=cut)
                else:
                    parsed = Future()
                    parsed.set_result(read_event_block(data, line + 1, self.path, end=cut))
                # Where the next block starts: counted here, so it need not wait for this parse.
                offset += cut
                line += data.count(b"\n", 0, cut)
                if pending is not None:
                    yield from self._deliver(*pending)
                pending = (parsed, cut)
            if pending is not None:
                yield from self._deliver(*pending)
        self._witness = self._read_witness()

    def _piece(self, handle: BinaryIO, offset: int) -> tuple[bytes, int] | None:
        """The bytes from `offset` and where its last complete line ends; None if no line is complete.

        The block is `data[:cut]`, parsed in place (no copy of 16 MB per block); the torn tail is
        read again with the next block.
        """
        size = self.block_bytes
        while True:
            handle.seek(offset)
            data = handle.read(size)
            cut = data.rfind(b"\n") + 1
            if cut:
                return data, cut
            if len(data) < size:
                return None  # only a torn last line (or nothing) is left
            size *= 2  # one line longer than a block: read more until its newline

    def _deliver(self, parsed: Future[BlockRead], cut: int) -> Iterator[BlockRead]:
        read = parsed.result()
        yield read
        self.offset += cut
        self.line_number += read.lines
