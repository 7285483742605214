"""The payment ledgers of §2 in PostgreSQL: payment events, finance entries, spend summaries.

Each record is one row: its JSONL line exactly as the files store writes it (`line`, what `export`
gives back and what record reads validate again), and typed columns for the jobs' SQL reads. An
append is one transaction that first takes the ledger's advisory lock, so `seq` order is commit
order — the file order of §4 — and a reader going on from a high-water mark never misses a row
committed after it read. A record whose id is already stored is not written twice: the same line
again is a no-op (a replay), other content under that id is refused.

The jobs' reads come out as the Arrow columns `readers.read_ledger` gives for a file (`line` is the
row's position in seq order, as a line number is a position in the file), streamed with `COPY … TO
STDOUT (FORMAT csv)` and parsed by pyarrow's CSV reader. Nothing is ever a bad line here: every row
was validated by the same pydantic model before it went in.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from pydantic import BaseModel

from genesis_payments.core.errors import LedgerError
from genesis_payments.core.money import to_micro
from genesis_payments.ledgers.checkpoints import SeqPosition
from genesis_payments.ledgers.event_columns import COLUMNS as EVENT_COLUMNS
from genesis_payments.ledgers.event_columns import BlockRead, event_table
from genesis_payments.ledgers.jsonl import BadLine, BadLineError, ReadResult, encode_line, validate_line
from genesis_payments.ledgers.readers import LedgerRead, RecordSpec
from genesis_payments.postgres.connection import database_failure
from genesis_payments.postgres.sessions import in_transaction, shared_connection

_TIMES = ("ts", "valid_before")


@dataclass(frozen=True)
class Table:
    """A ledger table: its name, the id column that makes an append idempotent, its typed columns,
    and the advisory lock key that orders its appends."""

    name: str
    label: str  # the file of §2 it stands for (what `export` writes, what messages name)
    id_field: str | None
    columns: tuple[str, ...]
    lock_key: int

    def values(self, record: BaseModel) -> list[Any]:
        row = []
        for column in self.columns:
            if column == "amount_micro":
                row.append(to_micro(record.amount_usd))  # type: ignore[attr-defined]
            else:
                row.append(getattr(record, column, None))
        return row


PAYMENT_EVENTS = Table(
    "payment_events", "transactions.jsonl", "event_id",
    ("event_id", "ts", "payment_id", "status", "agent", "vendor", "chain", "token", "amount_micro", "business_id",
     "intent_id", "idempotency_key", "tx_hash", "valid_before", "error"),
    0x6765_6E01,
)
FINANCE_ENTRIES = Table(
    "finance_entries", "finance_ledger.jsonl", "entry_id",
    ("entry_id", "ts", "payment_id", "agent", "vendor", "amount_micro", "kind"),
    0x6765_6E02,
)
SPEND_SUMMARIES = Table("spend_summaries", "spend_summaries.jsonl", None, ("business_id", "ts"), 0x6765_6E03)


class PgLedger:
    """One append-only ledger table: locked, whole appends; record reads; columnar reads from a mark."""

    def __init__(self, url: str, table: Table, model: type[BaseModel], spec: RecordSpec | None = None, *,
                 durable: bool = True) -> None:
        self.url = url
        self.table = table
        self.model = model
        self.spec = spec
        self.durable = durable

    @property
    def name(self) -> str:
        return f"{self.table.name} (PostgreSQL)"

    # --- appending --------------------------------------------------------------------------

    def append(self, record: BaseModel) -> None:
        self.append_many([record])

    def append_many(self, records: Sequence[BaseModel]) -> int:
        """Append in one transaction, in order; returns how many were new (the rest were replays)."""
        rows = [(self.table.values(r), encode_line(r).decode("utf-8")[:-1]) for r in records]
        return in_transaction(self.url, lambda conn: self._insert(conn, rows), durable=self.durable)

    def _insert(self, conn: psycopg.Connection, rows: list[tuple[list[Any], str]]) -> int:
        t = self.table
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (t.lock_key,))
        names = ", ".join((*t.columns, "line"))
        marks = ", ".join(["%s"] * (len(t.columns) + 1))
        if t.id_field is None:
            sql = f"INSERT INTO {t.name} ({names}) VALUES ({marks}) ON CONFLICT DO NOTHING RETURNING seq"
        else:
            sql = f"INSERT INTO {t.name} ({names}) VALUES ({marks}) ON CONFLICT ({t.id_field}) DO NOTHING RETURNING seq"
        new = 0
        with conn.cursor() as cur:
            for values, line in rows:
                cur.execute(sql, (*values, line))
                if cur.fetchone() is not None:
                    new += 1
                elif t.id_field is not None:
                    self._same_or_refuse(cur, values[t.columns.index(t.id_field)], line)
        return new

    def _same_or_refuse(self, cur: psycopg.Cursor, record_id: str, line: str) -> None:
        cur.execute(f"SELECT line FROM {self.table.name} WHERE {self.table.id_field} = %s", (record_id,))
        stored = cur.fetchone()
        if stored is not None and stored[0] != line:
            raise LedgerError(f"{self.table.label}: {self.table.id_field} {record_id!r} is already recorded with "
                              "other content; a record id is never reused (nothing was written)")

    # --- reading records ----------------------------------------------------------------------

    def read_records(self) -> ReadResult[Any]:
        """Every record in seq order, validated as a file line would be."""
        result: ReadResult[Any] = ReadResult()
        for number, line in enumerate(self.lines(), start=1):
            try:
                result.records.append(validate_line(line.encode("utf-8"), self.model))
            except BadLineError as exc:  # only a row written around the store (by hand) can be here
                result.bad_lines.append(BadLine(self.name, number, str(exc)))
        return result

    def lines(self, batch: int = 10_000) -> Iterable[str]:
        """The stored lines in seq order, streamed (a server-side cursor)."""
        try:
            conn = shared_connection(self.url)
            with conn.transaction(), conn.cursor(name=f"read_{self.table.name}") as cur:
                cur.itersize = batch
                cur.execute(f"SELECT line FROM {self.table.name} ORDER BY seq")
                for (line,) in cur:
                    yield line
        except psycopg.OperationalError as exc:
            raise database_failure(exc, "while reading") from None

    # --- reading columns, from a high-water mark -----------------------------------------------

    def read(self, columns: Sequence[str] | None = None, *, start: int = 0, first_line: int = 1,
             limit: int | None = None) -> LedgerRead:
        """Rows after seq `start` as `spec.schema`'s columns (or those asked for), numbered from `first_line`;
        at most `limit` of them. `end_offset` is the last seq read (the next call's `start`)."""
        assert self.spec is not None, "a columnar read needs the record spec"
        wanted = [c for c in (columns or self.spec.schema.names)]
        fields = [c for c in wanted if c != "line"]
        select = ["seq", *(f"(extract(epoch FROM {c}) * 1000000)::bigint" if c in _TIMES else c for c in fields)]
        sql = (f"COPY (SELECT {', '.join(select)} FROM {self.table.name} WHERE seq > {int(start)} ORDER BY seq"
               f"{f' LIMIT {int(limit)}' if limit else ''}) TO STDOUT (FORMAT csv)")
        buffer = io.BytesIO()
        try:
            conn = shared_connection(self.url)
            with conn.cursor() as cur, cur.copy(sql) as copy:
                for chunk in copy:
                    buffer.write(chunk)
        except psycopg.OperationalError as exc:
            raise database_failure(exc, "while reading") from None
        table = self._parse(buffer.getvalue(), fields)
        n = table.num_rows
        end = int(pc.max(table.column("seq")).as_py()) if n else int(start)
        arrays = {"line": pa.array(range(first_line, first_line + n), pa.int64())}
        for name in fields:
            column = table.column(name)
            arrays[name] = column.cast(self.spec.schema.field(name).type)
        out = pa.table({c: arrays[c] for c in wanted}, schema=pa.schema([self.spec.schema.field(c) for c in wanted]))
        return LedgerRead(out, [], n, end)

    def _parse(self, data: bytes, fields: list[str]) -> pa.Table:
        names = ["seq", *fields]
        types = {name: (pa.int64() if name in ("seq", "amount_micro", *_TIMES) else pa.string()) for name in names}
        if not data:
            return pa.table({n: pa.array([], t) for n, t in types.items()})
        return pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(column_names=names),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(column_types=types, null_values=[""], strings_can_be_null=True,
                                                 quoted_strings_can_be_null=False),
        )

    # --- positions ---------------------------------------------------------------------------

    def position(self, offset: int, lines: int) -> SeqPosition:
        """The mark after reading up to seq `offset` (`lines` rows in all)."""
        witness = ""
        if offset and self.table.id_field is not None:
            row = shared_connection(self.url).execute(
                f"SELECT {self.table.id_field} FROM {self.table.name} WHERE seq = %s", (offset,)).fetchone()
            witness = row[0] if row else ""
        return SeqPosition(offset, lines, witness)

    def changed(self, position: object, *, count: bool = True) -> str | None:
        """Why the rows a checkpoint read are no longer this table's first rows, or None.

        `count=False` checks only the witness row (an index look-up), not that no earlier row went."""
        if not isinstance(position, SeqPosition):
            return f"{self.table.label}: the checkpoint was made on the files store; rescanned"
        if position.offset == 0:
            return None
        counted = f"(SELECT count(*) FROM {self.table.name} WHERE seq <= %s)" if count else "%s"
        row = shared_connection(self.url).execute(
            f"SELECT (SELECT {self.table.id_field or 'seq::text'} FROM {self.table.name} WHERE seq = %s), {counted}",
            (position.offset, position.offset if count else position.lines)).fetchone()
        witness, count = row
        if (witness or "") != position.witness:
            return f"{self.table.name}: the row read last (seq {position.offset}) is gone or was replaced"
        if count != position.lines:
            return f"{self.table.name}: {position.lines - count} rows read before seq {position.offset} were deleted"
        return None


class PgEventFollower:
    """A ledger's records appended since the last `read_new()`, as `jsonl.IncrementalReader` gives a
    file's: (records, reset), `reset` when the rows read before are gone (start over)."""

    def __init__(self, ledger: PgLedger) -> None:
        self.ledger = ledger
        self.position = SeqPosition(0, 0, "")

    def probe(self) -> Any:
        """The last seq: changes with every append (one index look-up)."""
        conn = shared_connection(self.ledger.url)
        return conn.execute(f"SELECT max(seq) FROM {self.ledger.table.name}").fetchone()[0]

    def read_new(self) -> tuple[ReadResult[Any], bool]:
        reset = self.ledger.changed(self.position, count=False) is not None
        if reset:
            self.position = SeqPosition(0, 0, "")
        table, id_field = self.ledger.table, self.ledger.table.id_field or "seq::text"
        rows = shared_connection(self.ledger.url).execute(
            f"SELECT seq, {id_field}, line FROM {table.name} WHERE seq > %s ORDER BY seq",
            (self.position.offset,)).fetchall()
        result: ReadResult[Any] = ReadResult()
        lines = self.position.lines
        for _seq, _id, line in rows:
            lines += 1
            try:
                result.records.append(validate_line(line.encode("utf-8"), self.ledger.model))
            except BadLineError as exc:
                result.bad_lines.append(BadLine(self.ledger.name, lines, str(exc)))
        if rows:
            self.position = SeqPosition(rows[-1][0], lines, rows[-1][1])
        return result, reset


class PgEventLogTail:
    """`event_tail.EventLogTail` over `payment_events`: the exporter's blocks of new events, from a
    seq high-water mark, read again from the top when the rows read before are gone."""

    def __init__(self, ledger: PgLedger, block_rows: int = 500_000) -> None:
        self.ledger = ledger
        self.block_rows = block_rows
        self.position = SeqPosition(0, 0, "")

    def check(self) -> bool:
        """True when what was read before is no longer the table's content (rescan)."""
        if self.ledger.changed(self.position, count=False) is None:
            return False
        self.restart()
        return True

    def restart(self) -> None:
        self.position = SeqPosition(0, 0, "")

    # A checkpoint's mark (§5), as `EventLogTail`'s.
    def mark(self) -> SeqPosition:
        return self.position

    def changed_since(self, position: object) -> str | None:
        return self.ledger.changed(position)

    def resume_at(self, position: SeqPosition) -> None:
        self.position = position

    def new_blocks(self, prepare: Callable[[Any], Any] | None = None) -> Iterator[BlockRead]:
        while True:
            read = self.ledger.read(EVENT_COLUMNS, start=self.position.offset, first_line=self.position.lines + 1,
                                    limit=self.block_rows)
            if not read.lines:
                return
            table = event_table(read.table)
            yield BlockRead([prepare(table) if prepare is not None else table], [], read.lines)
            self.position = self.ledger.position(read.end_offset, self.position.lines + read.lines)


def referenced_decisions_in_table(settings: Any) -> dict[str, dict[str, Any]]:
    """decision_hash -> the first payment event relying on it (payment id, line), from `payment_events`
    (`audit.referenced_decisions` for the file)."""
    from genesis_payments.postgres.sessions import database_url

    rows = shared_connection(database_url(settings)).execute(
        "SELECT line, payment_id, hash FROM (SELECT row_number() OVER (ORDER BY seq) AS line, payment_id, "
        "line::jsonb ->> 'decision_hash' AS hash FROM payment_events) AS numbered WHERE hash IS NOT NULL "
        "ORDER BY line").fetchall()
    found: dict[str, dict[str, Any]] = {}
    for line, payment_id, digest in rows:
        found.setdefault(digest, {"payment_id": payment_id, "line": line, "decision_hash": digest})
    return found
