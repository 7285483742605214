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

On PostgreSQL (§12) a ledger has no bytes to point into: a position is a sequence high-water mark
(`SeqPosition`: the last `seq` read, how many rows that was, and the id of that row as the witness),
and the checkpoint's body — the same Arrow IPC bytes — is one row of `job_checkpoints`, replaced in
one transaction (`postgres.job_state`). `checkpoint_store(settings)` picks the one in use.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import pyarrow as pa
import pyarrow.ipc as ipc

from genesis_payments.core.files import write_atomic

if TYPE_CHECKING:
    from genesis_payments.core.settings import Settings

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


@dataclass(frozen=True)
class SeqPosition:
    """How far a PostgreSQL ledger was read: the last `seq` read, how many rows that was, and that
    row's id (a table emptied and reloaded has other ids under the same numbers)."""

    offset: int
    lines: int
    witness: str
    store: str = "postgres"


Position = FilePosition | SeqPosition


def file_changed(path: Path, position: Position) -> str | None:
    """Why a checkpoint's position no longer describes the file `path` (None: it still does)."""
    if not isinstance(position, FilePosition):
        return f"{Path(path).name}: the checkpoint was made on the PostgreSQL store; rescanned"
    return position.changed(path)


def position_from_dict(data: dict[str, Any]) -> Position:
    if data.get("store") == "postgres":
        return SeqPosition(**data)
    return FilePosition(**data)


def _witness(path: Path, offset: int) -> bytes:
    start = max(0, offset - _WITNESS)
    with open(path, "rb") as handle:
        handle.seek(start)
        return handle.read(offset - start)


@dataclass
class Checkpoint:
    """A reader's table of state, its file positions, extra JSON-able data, and further tables."""

    table: pa.Table
    positions: dict[str, Position]
    extra: dict[str, Any]
    sides: dict[str, pa.Table] = field(default_factory=dict)


def checkpoint_path(state_dir: Path, reader: str) -> Path:
    return Path(state_dir) / "checkpoints" / f"{reader}.arrow"


def _with_meta(checkpoint: Checkpoint) -> pa.Table:
    meta = {"version": VERSION, "positions": {k: asdict(v) for k, v in checkpoint.positions.items()},
            "extra": checkpoint.extra}
    return checkpoint.table.replace_schema_metadata(
        {"genesis-checkpoint": json.dumps(meta),
         **{f"{_SIDE}{name}".encode(): _stream_bytes(side) for name, side in checkpoint.sides.items()}})


def write_checkpoint(handle: BinaryIO, checkpoint: Checkpoint) -> None:
    """The checkpoint as one Arrow IPC file written to `handle`."""
    table = _with_meta(checkpoint)
    with ipc.new_file(handle, table.schema) as writer:
        writer.write_table(table)


def checkpoint_bytes(checkpoint: Checkpoint) -> bytes:
    sink = io.BytesIO()
    write_checkpoint(sink, checkpoint)
    return sink.getvalue()


def save_checkpoint(path: Path, checkpoint: Checkpoint) -> None:
    """Write atomically (`files.write_atomic`): the old checkpoint or the new one, never part of one."""
    write_atomic(path, lambda handle: write_checkpoint(handle, checkpoint))


def save_reader_checkpoint(state_dir: Path, reader: str, checkpoint: Checkpoint | None) -> None:
    """Save a run's checkpoint under the reader's name (nothing when the run made none)."""
    if checkpoint is not None:
        save_checkpoint(checkpoint_path(state_dir, reader), checkpoint)


def load_checkpoint(path: Path) -> tuple[Checkpoint | None, str | None]:
    """The checkpoint, or None and why it cannot be used (None, None: there is none yet)."""
    if not path.exists():
        return None, None
    return checkpoint_from(lambda: pa.memory_map(str(path)), path.name)


def checkpoint_from(source: Callable[[], Any], name: str) -> tuple[Checkpoint | None, str | None]:
    """Read a checkpoint from an Arrow IPC source (a memory map, a buffer), or say why it cannot be used."""
    try:
        with ipc.open_file(source()) as reader:
            table = reader.read_all()
        meta = json.loads(table.schema.metadata[b"genesis-checkpoint"])
        sides = {key[len(_SIDE):].decode(): ipc.open_stream(pa.py_buffer(value)).read_all()
                 for key, value in table.schema.metadata.items() if key.startswith(_SIDE.encode())}
        if meta.get("version") != VERSION:
            return None, f"checkpoint {name} is from another version ({meta.get('version')}): rescanned"
        positions = {k: position_from_dict(v) for k, v in meta["positions"].items()}
    except (pa.ArrowException, OSError, KeyError, TypeError, ValueError) as exc:
        return None, f"checkpoint {name} cannot be read ({type(exc).__name__}): rescanned"
    return Checkpoint(table.replace_schema_metadata(None), positions, meta["extra"], sides), None


def _stream_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


class FileCheckpoints:
    """Checkpoints as files under `state/checkpoints/` (the files store)."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = Path(state_dir)

    def load(self, reader: str) -> tuple[Checkpoint | None, str | None]:
        return load_checkpoint(checkpoint_path(self.state_dir, reader))

    def save(self, reader: str, checkpoint: Checkpoint | None) -> None:
        save_reader_checkpoint(self.state_dir, reader, checkpoint)


def checkpoint_store(settings: Settings) -> Any:
    """Where the jobs keep their checkpoints: files, or `job_checkpoints` on PostgreSQL."""
    if settings.uses_postgres:
        from genesis_payments.postgres.job_state import PgCheckpoints

        return PgCheckpoints(settings)
    return FileCheckpoints(settings.state_dir)
