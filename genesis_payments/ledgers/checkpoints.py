"""Checkpoints (§5): where a reader of a ledger stopped, and the open state it needs to go on.

A checkpoint is one Arrow IPC file under `data/a2a-x402/state/checkpoints/<reader>.arrow`: a table
of per-payment state, with the file positions and the small lists (findings, bad lines) kept in the
schema's metadata. It is written whole to a temporary file, fsynced, and renamed over the old one,
so a run that dies mid-write leaves the previous checkpoint. A checkpoint written by another
`VERSION` of the code, one that cannot be read, or one whose file was truncated, replaced or
rotated (another inode, shorter than the offset, other bytes just before it) is not used: the
reader says why and rescans from the top.

A reader whose state is more than one table (the business summary: payments, and intents) keeps
the others as `sides`: each one an Arrow IPC stream in the file's schema metadata, so the whole
checkpoint is still one file written by one rename.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.ipc as ipc

from genesis_payments.core.files import write_atomic

VERSION = 3  # bump when what a checkpoint holds changes meaning: older ones are then rescanned
_WITNESS = 64  # bytes just before the offset, compared to notice a file rewritten in place
_SIDE = "genesis-side:"  # metadata key prefix of a side table


@dataclass(frozen=True)
class FilePosition:
    """How far a ledger file was read: its identity, the offset after the last complete line read,
    how many lines that was, and the bytes just before the offset."""

    dev: int
    ino: int
    offset: int
    lines: int
    witness: str  # hex

    @classmethod
    def of(cls, path: Path, offset: int, lines: int) -> FilePosition:
        """The position `offset` (after `lines` lines) of `path` as it is now."""
        try:
            stat = os.stat(path)
        except FileNotFoundError:
            return cls(0, 0, 0, 0, "")
        return cls(stat.st_dev, stat.st_ino, offset, lines, _witness(path, offset).hex())

    def changed(self, path: Path) -> str | None:
        """Why `path` is no longer the file this position was read from, or None if it still is."""
        if self.offset == 0:
            return None
        try:
            stat = os.stat(path)
        except FileNotFoundError:
            return f"{path.name} is gone"
        if (stat.st_dev, stat.st_ino) != (self.dev, self.ino):
            return f"{path.name} was replaced (another file)"
        if stat.st_size < self.offset:
            return f"{path.name} was truncated ({stat.st_size} bytes, read up to {self.offset})"
        if _witness(path, self.offset).hex() != self.witness:
            return f"{path.name} was rewritten before byte {self.offset}"
        return None


def _witness(path: Path, offset: int) -> bytes:
    start = max(0, offset - _WITNESS)
    with open(path, "rb") as handle:
        handle.seek(start)
        return handle.read(offset - start)


@dataclass
class Checkpoint:
    """A reader's table of state, its file positions, extra JSON-able data, and further tables."""

    table: pa.Table
    positions: dict[str, FilePosition]
    extra: dict[str, Any]
    sides: dict[str, pa.Table] = field(default_factory=dict)


def checkpoint_path(state_dir: Path, reader: str) -> Path:
    return Path(state_dir) / "checkpoints" / f"{reader}.arrow"


def save_checkpoint(path: Path, checkpoint: Checkpoint) -> None:
    """Write atomically (`files.write_atomic`): the old checkpoint or the new one, never part of one."""
    meta = {"version": VERSION, "positions": {k: asdict(v) for k, v in checkpoint.positions.items()},
            "extra": checkpoint.extra}
    table = checkpoint.table.replace_schema_metadata(
        {"genesis-checkpoint": json.dumps(meta),
         **{f"{_SIDE}{name}".encode(): _stream_bytes(side) for name, side in checkpoint.sides.items()}})

    def fill(handle: BinaryIO) -> None:
        with ipc.new_file(handle, table.schema) as writer:
            writer.write_table(table)

    write_atomic(path, fill)


def save_reader_checkpoint(state_dir: Path, reader: str, checkpoint: Checkpoint | None) -> None:
    """Save a run's checkpoint under the reader's name (nothing when the run made none)."""
    if checkpoint is not None:
        save_checkpoint(checkpoint_path(state_dir, reader), checkpoint)


def load_checkpoint(path: Path) -> tuple[Checkpoint | None, str | None]:
    """The checkpoint, or None and why it cannot be used (None, None: there is none yet)."""
    if not path.exists():
        return None, None
    try:
        with ipc.open_file(pa.memory_map(str(path))) as reader:
            table = reader.read_all()
        meta = json.loads(table.schema.metadata[b"genesis-checkpoint"])
        sides = {key[len(_SIDE):].decode(): ipc.open_stream(pa.py_buffer(value)).read_all()
                 for key, value in table.schema.metadata.items() if key.startswith(_SIDE.encode())}
    except (pa.ArrowException, OSError, KeyError, TypeError, ValueError) as exc:
        return None, f"checkpoint {path.name} cannot be read ({type(exc).__name__}): rescanned"
    if meta.get("version") != VERSION:
        return None, f"checkpoint {path.name} is from another version ({meta.get('version')}): rescanned"
    positions = {k: FilePosition(**v) for k, v in meta["positions"].items()}
    return Checkpoint(table.replace_schema_metadata(None), positions, meta["extra"], sides), None


def _stream_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()
