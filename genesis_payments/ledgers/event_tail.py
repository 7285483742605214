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
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any, BinaryIO

from genesis_payments.core.records import PaymentEvent
from genesis_payments.ledgers import native
from genesis_payments.ledgers.event_columns import BlockRead, read_event_block
from genesis_payments.ledgers.jsonl import IncrementalReader

BLOCK_BYTES = 16 << 20  # large enough for pyarrow to amortise, small enough to bound memory
READ_AHEAD_FROM = 1 << 20  # with this much new, blocks are read in background threads
_WORKERS = 2  # blocks parsed at once (each also split across the readers' own threads)
_DONE = object()


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

    def new_blocks(self, prepare: Callable[[Any], Any] | None = None) -> Iterator[BlockRead]:
        """The complete lines appended since the last call, block by block; call `check` first.

        `prepare`, when given, is applied to each of a block's tables as it is read (the block then
        carries what it returns): work that needs no state of the caller's. With much to read
        (a first read), the next blocks are read, parsed and prepared in background threads while
        the caller works on this one (the parse frees the GIL).

        The offset moves past a block only once the caller has taken it, so a read error part way
        leaves the tail consistent with what the caller has seen.
        """
        if not self.exists:
            return
        if os.stat(self.path).st_size - self.offset < READ_AHEAD_FROM:
            parsed: Iterator[tuple[Future[BlockRead], int]] = (
                (_done(self._parse(data, cut, first, prepare)), cut) for data, cut, first in self._pieces())
            yield from self._deliver(parsed)
            return
        # Each block in flight (parsed by a worker, waiting to be handed over, being cut) has a buffer.
        buffers = _Buffers(self.block_bytes, _WORKERS + 2)
        with ThreadPoolExecutor(_WORKERS, thread_name_prefix="tail-parse") as workers:
            submitted = ((workers.submit(self._parse, data, cut, first, prepare, buffers), cut)
                         for data, cut, first in self._pieces(buffers))
            # The pieces are cut from the file one after another (each starts where the last
            # ended) in a thread of their own, a block or two ahead of the caller.
            yield from self._deliver(_ahead(submitted))

    def _deliver(self, parsed: Iterator[tuple[Future[BlockRead], int]]) -> Iterator[BlockRead]:
        for future, cut in parsed:
            block = future.result()
            yield block
            self.offset += cut
            self.line_number += block.lines
        self._witness = self._read_witness()

    def _pieces(self, buffers: _Buffers | None = None) -> Iterator[tuple[bytes | bytearray, int, int]]:
        """(data, cut, number of its first line) for each block from the offset on (read into one
        of `buffers` where given)."""
        with open(self.path, "rb") as handle:
            offset, line = self.offset, self.line_number
            while (piece := self._piece(handle, offset, buffers)) is not None:
                data, cut = piece
                yield data, cut, line + 1
                offset += cut
                line += native.count_lines(data, 0, cut)

    def _parse(self, data: bytes | bytearray, cut: int, first_line: int, prepare: Callable[[Any], Any] | None,
               buffers: _Buffers | None = None) -> BlockRead:
        try:
            # Blocks are already read two at a time: each one whole, so its tables come in one piece.
            block = read_event_block(data, first_line, self.path, end=cut, split=False)
        finally:
            if buffers is not None:  # what was read is in new arrays now: the buffer takes the next block
                buffers.give(data)
        if prepare is not None:
            block = replace(block, tables=[prepare(table) for table in block.tables])
        return block

    def _piece(self, handle: BinaryIO, offset: int, buffers: _Buffers | None = None
               ) -> tuple[bytes | bytearray, int] | None:
        """The bytes from `offset` and where its last complete line ends; None if no line is complete.

        The block is `data[:cut]`, parsed in place (no copy of 16 MB per block); the torn tail is
        read again with the next block. With `buffers`, the block is read into one of them.
        """
        size = self.block_bytes
        if buffers is not None:
            buffer = buffers.take()
            handle.seek(offset)
            read = handle.readinto(buffer)
            cut = buffer.rfind(b"\n", 0, read) + 1
            if cut:
                return buffer, cut
            buffers.give(buffer)
            if read < len(buffer):
                return None  # only a torn last line (or nothing) is left
            size *= 2  # one line longer than a block: what the buffer held is read again, with more
        while True:
            handle.seek(offset)
            data = handle.read(size)
            cut = data.rfind(b"\n") + 1
            if cut:
                return data, cut
            if len(data) < size:
                return None  # only a torn last line (or nothing) is left
            size *= 2  # one line longer than a block: read more until its newline


class _Buffers:
    """Block buffers handed round: a block is read into one, parsed into new arrays, and its buffer
    given back for a later block. Reading each block into new memory cost more than half the first
    read's page faults (the kernel's copy from the page cache into untouched pages)."""

    def __init__(self, size: int, count: int) -> None:
        self.size = size
        self._free: queue.Queue[bytearray] = queue.Queue()
        for _ in range(count):
            self._free.put(bytearray(size))

    def take(self) -> bytearray:
        """A free buffer; waits for a worker to give one back when all are in flight."""
        return self._free.get()

    def give(self, buffer: bytes | bytearray) -> None:
        if isinstance(buffer, bytearray) and len(buffer) == self.size:
            self._free.put(buffer)


def _done(block: BlockRead) -> Future[BlockRead]:
    future: Future[BlockRead] = Future()
    future.set_result(block)
    return future


def _ahead(items: Iterator[Any]) -> Iterator[Any]:
    """`items`, produced one ahead by a background thread; an error there is raised here, in turn."""
    handoff: queue.Queue[Any] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                handoff.put(item)
                if stop.is_set():
                    return
        except BaseException as exc:  # handed over, so the consumer raises it where it reads
            handoff.put(exc)
            return
        handoff.put(_DONE)

    worker = threading.Thread(target=produce, name="tail-read-ahead", daemon=True)
    worker.start()
    try:
        while (item := handoff.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting to hand over one more
            try:
                handoff.get(timeout=0.05)
            except queue.Empty:
                pass
        worker.join()
