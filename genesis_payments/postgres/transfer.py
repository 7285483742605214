"""`export` and `import` (§12): the files of §2 from the database, and the database from them.

`export_store(settings, folder)` writes, under `folder` taken as a root, the ledgers of §2 —
`transactions.jsonl`, `finance_ledger.jsonl`, `spend_summaries.jsonl` and the approval log — each
line exactly as it was appended (the `line` column), in `seq` order, each file written whole and
renamed into place. What `import` loaded comes back byte for byte, so `audit verify --root folder`
checks the chain that was exported.

`import_store(settings, folder)` checks everything before it loads anything: the approval log's
hash chain (`audit.verify_chain`) and every line of every ledger (the readers of `ledgers/`: a bad
line is refused with its file, line number and reason), and that no id repeats. Then one
transaction loads the ledgers, skipping every record whose id is already there with the same line
(so importing twice is importing once) and refusing one whose id is there with another line. Bulk
rows go through `COPY … FROM STDIN (FORMAT csv)` from the Arrow columns the readers validated.

The decisions are the table `approval_chain` (`PgApprovalLog.export_lines`/`import_lines`: the
canonical lines byte for byte; an import verifies the chain, adds only what the table lacks and
refuses another chain). They are imported first, in a transaction of their own: a decision without
its payment events is an ordinary state, payment events relying on missing decisions are not.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from genesis_payments.core.errors import InvalidRecord, LedgerError
from genesis_payments.core.files import write_atomic
from genesis_payments.core.records import SpendSummary
from genesis_payments.core.settings import Settings
from genesis_payments.ledgers.audit import verify_chain
from genesis_payments.ledgers.jsonl import read_jsonl
from genesis_payments.ledgers.readers import (
    ENTRY_SPEC,
    EVENT_SPEC,
    RecordSpec,
    read_block,
    read_ledger,
    whole_line_blocks,
)
from genesis_payments.postgres.approval_log import PgApprovalLog
from genesis_payments.postgres.ledgers import FINANCE_ENTRIES, PAYMENT_EVENTS, SPEND_SUMMARIES, Table
from genesis_payments.postgres.sessions import database_url, in_transaction, shared_connection

EXPORT_BATCH = 100_000  # rows per round trip: a few tens of MB of text at most
IMPORT_BLOCK = 32 << 20  # bytes of a ledger parsed and sent per COPY: bounds the memory of a big import


@dataclass(frozen=True)
class Ledger:
    table: Table
    path_of: Callable[[Settings], Path]
    spec: RecordSpec | None  # None: a small ledger, read record by record


LEDGERS = (
    Ledger(PAYMENT_EVENTS, lambda s: s.transactions_path, EVENT_SPEC),
    Ledger(FINANCE_ENTRIES, lambda s: s.finance_ledger_path, ENTRY_SPEC),
    Ledger(SPEND_SUMMARIES, lambda s: s.spend_summaries_path, None),
)


@dataclass
class Transfer:
    """What an export or import did: records per file (`loaded`: new ones; `skipped`: already there)."""

    records: dict[str, int] = field(default_factory=dict)
    loaded: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)


def _root(settings: Settings, folder: Path) -> Settings:
    return settings.model_copy(update={"root": Path(folder).expanduser().resolve(), "database_url": None})


# --- export ------------------------------------------------------------------------------------


def export_store(settings: Settings, folder: Path) -> Transfer:
    """Write the ledgers of §2 from the database under `folder` (a root); refuse to overwrite any."""
    url = database_url(settings)
    target = _root(settings, folder)
    files = [ledger.path_of(target) for ledger in LEDGERS] + [target.approval_log_path]
    taken = [p for p in files if p.exists() and p.stat().st_size]
    if taken:
        raise LedgerError(f"{taken[0]} already holds records; export writes into a root without ledgers "
                          "(choose an empty folder)")
    done = Transfer()
    for ledger in LEDGERS:
        path = ledger.path_of(target)
        path.parent.mkdir(parents=True, exist_ok=True)
        counter = [0]
        write_atomic(path, lambda handle, t=ledger.table, c=counter: _write_lines(url, t, handle, c))
        done.records[path.name] = counter[0]
    done.records[target.approval_log_path.name] = _export_decisions(settings, target.approval_log_path)
    return done


def _write_lines(url: str, table: Table, handle: BinaryIO, counter: list[int]) -> None:
    conn = shared_connection(url)
    after = 0
    while True:
        row = conn.execute(
            f"SELECT string_agg(line || E'\\n', '' ORDER BY seq), max(seq), count(*) FROM "
            f"(SELECT seq, line FROM {table.name} WHERE seq > %s ORDER BY seq LIMIT %s) AS batch",
            (after, EXPORT_BATCH)).fetchone()
        text, last, count = row
        if not count:
            return
        handle.write(text.encode("utf-8"))
        counter[0] += count
        after = last


def _export_decisions(settings: Settings, path: Path) -> int:
    lines = [0]

    def fill(handle: BinaryIO) -> None:
        for line in PgApprovalLog(settings, database_url(settings)).export_lines():
            handle.write(line)
            lines[0] += 1

    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, fill)
    return lines[0]


def _complete_lines(path: Path) -> bytes:
    if not path.exists():
        return b""
    data = path.read_bytes()
    return data[: data.rfind(b"\n") + 1]


# --- import ------------------------------------------------------------------------------------


@dataclass
class _Checked:
    ledger: Ledger
    path: Path
    rows: int
    small: pa.Table | None = None  # a ledger read record by record (spend summaries) is kept whole


def import_store(settings: Settings, folder: Path) -> Transfer:
    """Load the files of §2 under `folder` into the database: all checked first, then one transaction."""
    url = database_url(settings)
    source = _root(settings, folder)
    chain = verify_chain(source.approval_log_path)
    if not chain.ok:
        raise InvalidRecord(f"{source.approval_log_path} line {chain.first_bad_line}: {chain.reason}; the hash "
                            "chain is broken, nothing was imported")
    checked = [_check(ledger, ledger.path_of(source)) for ledger in LEDGERS]
    done = Transfer()
    name = source.approval_log_path.name
    with open(source.approval_log_path, "rb") if source.approval_log_path.exists() else io.BytesIO() as chain_file:
        done.loaded[name] = PgApprovalLog(settings, url).import_lines(chain_file, str(source.approval_log_path))
    done.records[name] = chain.lines
    done.skipped[name] = chain.lines - done.loaded[name]

    def load(conn: psycopg.Connection) -> None:
        for item in checked:
            name = item.path.name
            done.records[name] = item.rows
            done.loaded[name] = _load(conn, item)
            done.skipped[name] = done.records[name] - done.loaded[name]

    in_transaction(url, load)
    if any(done.loaded.values()):
        # A bulk load leaves the visibility map unset until autovacuum comes: without it the jobs'
        # checkpoint checks (a count up to a seq) and the planner's estimates cost a scan of everything.
        shared_connection(url).execute("VACUUM (ANALYZE) payment_events, finance_entries, spend_summaries")
    return done


def _keys(table: Table) -> list[str]:
    return [table.id_field] if table.id_field else ["business_id", "ts"]


def _check(ledger: Ledger, path: Path) -> _Checked:
    """Pass 1: every line valid (else the first bad one is refused), no id repeated. Only the ids are
    kept: the rows themselves are read again, block by block, while loading."""
    table = ledger.table
    small = None
    if ledger.spec is not None:
        read = read_ledger(path, ledger.spec, ("line", *_keys(table)))
        bad, columns = read.bad_lines, read.table
    else:
        result = read_jsonl(path, SpendSummary)
        bad = result.bad_lines
        columns = pa.table({"line": pa.array(range(1, len(result.records) + 1), pa.int64()),
                            "business_id": [r.business_id for r in result.records],
                            "ts": pa.array([r.ts for r in result.records], pa.timestamp("us", tz="UTC"))})
        small = _with_text(columns, _complete_lines(path))
    if bad:
        first = bad[0]
        raise InvalidRecord(f"{first.file} line {first.line}: {first.reason}; nothing was imported "
                            f"({len(bad)} bad line(s) in that file)")
    _refuse_repeats(path, columns, _keys(table))
    return _Checked(ledger, path, columns.num_rows, small)


def _with_text(columns: pa.Table, data: bytes) -> pa.Table:
    lines = data.decode("utf-8").split("\n")[:-1] if columns.num_rows else []
    return columns.append_column("text", pa.array(lines, pa.string()))


def _blocks(item: _Checked) -> Iterator[pa.Table]:
    """Pass 2: the rows as COPY columns (`line` number, typed fields, the line's text), a block at a time,
    so a root of millions of records is loaded in bounded memory."""
    if item.small is not None:
        yield item.small
        return
    spec, columns = item.ledger.spec, ("line", *item.ledger.table.columns)
    assert spec is not None
    line, rows = 1, 0
    if not item.path.exists():
        return
    with open(item.path, "rb") as handle:
        for data, cut in whole_line_blocks(handle, IMPORT_BLOCK):
            if cut == 0:
                break
            read = read_block(spec, data, line, item.path, end=cut, columns=columns)
            block = _with_text(read.table, data[:cut])
            if read.bad_lines or block.num_rows != read.lines:
                raise LedgerError(f"{item.path} changed while it was imported (stop every writer first); "
                                  "nothing was imported")
            line, rows = line + read.lines, rows + read.lines
            yield block
    if rows != item.rows:
        raise LedgerError(f"{item.path} changed while it was imported (stop every writer first); nothing was imported")


def _refuse_repeats(path: Path, columns: pa.Table, keys: list[str]) -> None:
    counts = columns.group_by(keys).aggregate([("line", "count"), ("line", "min"), ("line", "max")])
    repeated = counts.filter(pc.greater(counts.column("line_count"), 1))
    if repeated.num_rows:
        first = repeated.sort_by("line_max").slice(0, 1).to_pylist()[0]
        what = " and ".join(f"{k} {first[k]!r}" for k in keys)
        raise InvalidRecord(f"{path} line {first['line_max']}: repeats the {what} of line {first['line_min']}; "
                            "an id is unique in the PostgreSQL store, so nothing was imported (remove the repeat)")


def _load(conn: psycopg.Connection, item: _Checked) -> int:
    """COPY the rows into a temporary table, refuse any id stored with other content, insert the new."""
    table = item.ledger.table
    conn.execute(f"SELECT pg_advisory_xact_lock({table.lock_key})")
    staging = f"import_{table.name}"
    conn.execute(f"CREATE TEMPORARY TABLE {staging} (LIKE {table.name} INCLUDING DEFAULTS) ON COMMIT DROP")
    conn.execute(f"ALTER TABLE {staging} DROP COLUMN seq, ADD COLUMN ord bigint")
    names = [*table.columns, "line", "ord"]
    for block in _blocks(item):
        buffer = io.BytesIO()
        pacsv.write_csv(block.select([*table.columns, "text", "line"]).rename_columns(names), buffer,
                        pacsv.WriteOptions(include_header=False, quoting_style="all_valid"))
        with conn.cursor().copy(f"COPY {staging} ({', '.join(names)}) FROM STDIN (FORMAT csv)") as copy:
            copy.write(buffer.getvalue())
    keys = _keys(table)
    match = " AND ".join(f"s.{k} = t.{k}" for k in keys)
    clash = conn.execute(f"SELECT s.ord, {', '.join('s.' + k for k in keys)} FROM {staging} s JOIN {table.name} t "
                         f"ON {match} WHERE s.line <> t.line ORDER BY s.ord LIMIT 1").fetchone()
    if clash is not None:
        raise InvalidRecord(f"{item.path} line {clash[0]}: {keys[0]} {clash[1]!r} is already in the database with "
                            "other content; nothing was imported")
    columns = ", ".join([*table.columns, "line"])
    inserted = conn.execute(
        f"INSERT INTO {table.name} ({columns}) SELECT {columns} FROM {staging} s "
        f"WHERE NOT EXISTS (SELECT 1 FROM {table.name} t WHERE {match}) ORDER BY s.ord")
    return inserted.rowcount
