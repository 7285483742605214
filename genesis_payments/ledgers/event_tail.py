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
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from genesis_payments.core.records import PaymentEvent
from genesis_payments.ledgers.checkpoints import FilePosition, Position, file_changed
from genesis_payments.ledgers.event_columns import BlockRead, read_event_block
from genesis_payments.ledgers.jsonl import IncrementalReader

BLOCK_BYTES = 16 << 20  # large enough for pyarrow to amortise, small enough to bound memory


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

    # A checkpoint's mark of how far the tail read (§5), and going on from one.
    def mark(self) -> FilePosition:
        return FilePosition.of(self.path, self.offset, self.line_number)

    def changed_since(self, position: Position) -> str | None:
        return file_changed(self.path, position)

    def restart(self) -> None:
        """Forget the offset: the next `check` and `new_blocks` read the file from the top."""
        self._restart(None)
        self.exists = False

    def new_blocks(self, prepare: Callable[[Any], Any] | None = None) -> Iterator[BlockRead]:
        """The complete lines appended since the last call, block by block; call `check` first.

        `prepare`, when given, is applied to each of a block's tables (the block then carries what
        it returns). The offset moves past a block only once the caller has taken it, so a read
        error part way leaves the tail consistent with what the caller has seen.
        """
        if not self.exists:
            return
        with open(self.path, "rb") as handle:
            while (piece := self._piece(handle)) is not None:
                data, cut = piece
                block = read_event_block(data, self.line_number + 1, self.path, end=cut)
                if prepare is not None:
                    block = replace(block, tables=[prepare(table) for table in block.tables])
                yield block
                self.offset += cut
                self.line_number += block.lines
        self._witness = self._read_witness()

    def _piece(self, handle: Any) -> tuple[bytes, int] | None:
        """The bytes from the offset and where their last complete line ends; None if no line is
        complete (nothing new, or only a torn last line, which is read again next time)."""
        size = self.block_bytes
        while True:
            handle.seek(self.offset)
            data = handle.read(size)
            cut = data.rfind(b"\n") + 1
            if cut:
                return data, cut
            if len(data) < size:
                return None
            size *= 2  # one line longer than a block: read more until its newline
