"""The approval log in PostgreSQL (§8, §12): the same hash chain as `approval_log.jsonl`, one chain
for every host, behind the interface of `ledgers/approval_log.py` (`run_locked`, `viewed`,
`new_tail`, `read`, `latest_decision`, `append`).

Table `approval_chain` (migration 0002) holds each record's canonical line exactly as the files
store writes it, with `seq` (its line number), `prev_hash` and `hash`; `approval_chain_head` holds
the last (seq, hash). `run_locked(work)` runs `work(handle)` in one transaction that first locks
the head row (`SELECT … FOR UPDATE`): the handle's `follow` hands the records other hosts appended
since this process last looked to the caller (the meta agent feeds them to the one `SpendState`,
`HaltBook` and velocity rules the files store feeds), `append_record` inserts a record and moves
the head, and the commit makes all of it visible at once. So budgets, halts and velocity are checked
and the decision appended in one transaction, and two hosts can never fork the chain.

A transaction that fails (a server restart, a connection cut, 40001/40P01 under the benchmark's
`serializable` mode) is rolled back whole and run again, on a new connection if need be, for up
to `RETRY_SECONDS`; a caller whose in-memory state had already taken in its own appends is told to
read the chain again from the top (its tail is invalidated), so nothing it remembers was lost.
A commit whose outcome is unknown (the connection broke during COMMIT) is safe to run again: an
intent already decided gets its decision back, a halt already recorded is found by its id.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar

import psycopg
from pydantic import ValidationError

from genesis_payments.core.errors import LedgerError
from genesis_payments.core.records import ApprovalDecision
from genesis_payments.core.redaction import redact_url
from genesis_payments.core.settings import Settings
from genesis_payments.ledgers.approval_log import (
    GENESIS_HASH,
    ChainTail,
    chained_line,
    decision_body,
    latest_per_intent,
)
from genesis_payments.ledgers.audit import ChainReport, check_line
from genesis_payments.ledgers.checkpoints import Position, SeqPosition
from genesis_payments.ledgers.jsonl import BadLine, ReadResult, describe_validation_error
from genesis_payments.postgres.connection import RETRYABLE, connect, database_failure

T = TypeVar("T")

WHERE = "PostgreSQL table approval_chain"
# How appends are serialised (benchmarks/postgres.py measures each; docs/architecture.md says why
# "head" stays). "head": READ COMMITTED, the head row locked FOR UPDATE first (approval_chain_lock).
# "advisory": the same, after a transaction-level advisory lock per budget key of the intent.
# "serializable": SERIALIZABLE, the head read without a lock, a 40001 retried.
# A "+sync" suffix turns off the early release below (the benchmark's comparison).
_LOCKING_SETTING = os.environ.get("GENESIS_PG_APPROVAL_LOCKING", "head")
LOCKING = _LOCKING_SETTING.removesuffix("+sync")
# Early release: the chain's transaction commits without waiting for its WAL flush (SET LOCAL
# synchronous_commit = off), which ends its hold on the head at once; the caller is answered only
# after a second, synchronous commit (a transactional WAL message) has flushed the WAL past it.
# So nothing is acknowledged before it is durable, and the flushes of concurrent writers are
# shared (group commit) instead of being taken one after the other under the head's lock. A record
# a crash loses was never acknowledged; a reader that saw it starts again from the top (PgTail).
EARLY_RELEASE = not _LOCKING_SETTING.endswith("+sync")
FLUSH = "SELECT pg_logical_emit_message(true, 'genesis-payments', 'durable')"
RETRY_SECONDS = 60.0  # a server restart or failover within this is ridden out; after it, a LedgerError
_CHUNK = 5000  # records fetched per query when following a long chain


class ChainPermissionError(LedgerError):
    """This host's database role may not do what was asked (a jobs role appending, say)."""


def _lock_key(text: str) -> int:
    """A signed 64-bit advisory lock key for a budget key."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big", signed=True)


class PgTail(ChainTail):
    """A reader's position in the chain: `lines` is the last `seq` read (the files' line count)."""

    def reset_to(self, identity: Any, head: Any = None) -> None:
        super().reset_to(identity, None)
        self.valid = True

    def invalidate(self) -> None:
        """Records this tail's owner applied were rolled back: read the chain again from the top."""
        self.valid = False

    def needs_reset(self, view: Any) -> bool:
        return (not self.valid or view.identity != self.identity or view.head_seq < self.lines
                or (view.head_seq == self.lines and view.head_hash != self.last_hash))


class PgView:
    """A transaction on the chain: the head as read at its start, and reads of the records."""

    locked = False

    def __init__(self, log: PgApprovalLog, conn: psycopg.Connection, *, read_head: bool = True) -> None:
        self.log = log
        self.conn = conn
        self.path = log.path
        self.identity = log.identity
        self.head_seq = -1
        self.head_hash = GENESIS_HASH
        if read_head:
            self._set_head(conn.execute("SELECT seq, hash FROM approval_chain_head").fetchone())

    def _set_head(self, row: Any) -> None:
        if row is None:
            raise LedgerError(f"{WHERE}: the head row is missing; run `genesis-payments db upgrade`")
        self.head_seq, self.head_hash = int(row[0]), str(row[1])

    def _start(self, tail: PgTail) -> None:
        """Called first by `follow` (the handle takes its lock there)."""

    def _rows_after(self, after: int) -> list[tuple[int, str]]:
        return self.conn.execute(
            "SELECT seq, line FROM approval_chain WHERE seq > %s AND seq <= %s ORDER BY seq LIMIT %s",
            (after, self.head_seq, _CHUNK),
        ).fetchall()

    def follow(self, tail: PgTail, apply: Callable[[dict[str, Any], int, int], None],
               on_reset: Callable[[], None] | None = None, warm_start: Callable[..., bool] | None = None) -> None:
        """Hand every record after `tail` up to the head to `apply(record, seq, length)`, in order
        (`warm_start` is the files store's checkpoint hook; a table is followed from its `seq`)."""
        self._start(tail)
        if tail.needs_reset(self):
            tail.reset_to(self.identity)
            if on_reset is not None:
                on_reset()
        first = True
        while tail.lines < self.head_seq:
            rows = self._rows_after(tail.lines)
            if not rows:
                break
            if first and tail.lines and rows[0][0] == tail.lines + 1 \
                    and json.loads(rows[0][1]).get("prev_hash") != tail.last_hash:
                # What this reader saw last is not there any more (a crash lost a record it saw
                # before its flush, or the database was restored): read everything again.
                tail.reset_to(self.identity)
                if on_reset is not None:
                    on_reset()
                continue
            first = False
            for seq, line in rows:
                if seq != tail.lines + 1:
                    tail._break(f"records {tail.lines + 1} to {seq - 1} are missing (removed)")
                tail.lines = seq
                tail._link(line.encode("utf-8"), seq, apply, self.path)  # type: ignore[arg-type]
        if self.locked and tail.broken is None and (tail.lines, tail.last_hash) != (self.head_seq, self.head_hash):
            tail._break(f"head moved backwards: the head row names record {self.head_seq} "
                        f"(hash {self.head_hash[:12]}…) but the chain ends at record {tail.lines}")

    def record_at(self, offset: int, length: int) -> bytes:
        self._ensure()
        row = self.conn.execute("SELECT line FROM approval_chain WHERE seq = %s", (offset,)).fetchone()
        if row is None:
            raise LedgerError(f"{WHERE}: record {offset} is missing")
        return str(row[0]).encode("utf-8")

    def _ensure(self) -> None:
        """The handle holds its lock before anything else it reads."""

    def find_decision(self, decision_id: str) -> dict[str, Any] | None:
        self._ensure()
        row = self.conn.execute("SELECT line FROM approval_chain WHERE decision_id = %s", (decision_id,)).fetchone()
        return None if row is None else json.loads(row[0])


class PgHandle(PgView):
    """The chain locked for this transaction: reads, and appends that commit with it.

    Round trips are the cost of a decision, so the transaction is spelt out rather than left to the
    driver: its first message is BEGIN, the settings, any advisory locks and the lock of the head
    with the records to catch up on; its last is the inserts with COMMIT (one simple-protocol string
    each, parameters bound by psycopg's ClientCursor).
    """

    locked = True

    def __init__(self, log: PgApprovalLog, conn: psycopg.Connection, keys: Iterable[str] = ()) -> None:
        super().__init__(log, conn, read_head=False)
        self.touched: list[PgTail] = []
        self._prefetched: tuple[int, list[tuple[int, str]]] | None = None
        self._client = psycopg.ClientCursor(conn)
        self._opening = ["BEGIN ISOLATION LEVEL SERIALIZABLE" if LOCKING == "serializable" else "BEGIN"]
        if EARLY_RELEASE:
            self._opening.append("SET LOCAL synchronous_commit TO OFF")
        if LOCKING == "advisory":  # one order everywhere: no deadlock between two writers
            self._opening += [f"SELECT pg_advisory_xact_lock({_lock_key(key)})" for key in sorted(set(keys))]
        self._pending: list[str] = []

    def _send(self, statements: list[str]) -> list[tuple[Any, ...]]:
        """One round trip; the rows of the last statement."""
        self._client.execute("; ".join(statements))
        while self._client.nextset():
            pass
        return self._client.fetchall() if self._client.description else []

    def _start(self, tail: PgTail) -> None:
        if self.head_seq >= 0:
            return
        after = tail.lines if tail.valid and tail.identity == self.identity else 0
        if LOCKING == "serializable":
            self._set_head(self._send([*self._opening, "SELECT seq, hash FROM approval_chain_head"])[0])
            return
        lock = self._client.mogrify("SELECT seq, hash, line FROM approval_chain_lock(%s, %s)", (after, _CHUNK))
        rows = self._send([*self._opening, lock])
        self._set_head(rows[0][:2])
        self._prefetched = (after, [(seq, line) for seq, _hash, line in rows[1:]])

    def _ensure(self) -> None:
        if self.head_seq < 0:
            self._start(PgTail())

    def _rows_after(self, after: int) -> list[tuple[int, str]]:
        prefetched, self._prefetched = self._prefetched, None
        if prefetched is not None and prefetched[0] == after:
            return prefetched[1]
        return super()._rows_after(after)

    def append_record(self, tail: PgTail, body: Mapping[str, Any]) -> tuple[str, int, int]:
        """Chain `body` (its `prev_hash` = `tail.last_hash`) as the next record and move the head to it;
        sent with the COMMIT."""
        tail.refuse_if_broken(self.path)
        self._ensure()
        digest, line = chained_line(body)
        seq = tail.lines + 1
        kind = body.get("kind")
        self.touched.append(tail)
        self._pending.append(self._client.mogrify(
            "WITH appended AS (INSERT INTO approval_chain "
            "(seq, kind, intent_id, decision_id, decision, resolves, ts, prev_hash, hash, line) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)) "
            "UPDATE approval_chain_head SET seq = %s, hash = %s",
            (seq, kind or "decision",
             None if kind else body["intent_id"], None if kind else body["decision_id"],
             None if kind else body["decision"], None if kind else body.get("resolves"),
             body["ts"], body["prev_hash"], digest, line[:-1].decode("utf-8"), seq, digest),
        ))
        tail.lines, tail.last_hash = seq, digest
        self.head_seq, self.head_hash = seq, digest
        return digest, seq, len(line)

    def commit(self) -> None:
        if self.conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE or self._pending:
            self._send([*self._pending, "COMMIT"])

    def rollback(self) -> None:
        if self.conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE and not self.conn.closed:
            with contextlib.suppress(psycopg.Error):
                self.conn.execute("ROLLBACK")

    def abort(self) -> None:
        for tail in self.touched:
            tail.invalidate()


class PgApprovalLog:
    """The approval chain in PostgreSQL; one connection per process, shared by its threads in turn."""

    store = "postgres"

    def __init__(self, settings: Settings, url: str) -> None:
        self.settings = settings
        self.url = url
        self.path = WHERE
        self.identity = redact_url(url)
        self.where = f"postgres:{url}"  # which log this is, for a process's caches (never printed)
        self._lock = threading.RLock()
        self._conn: psycopg.Connection | None = None
        self._pid = -1

    # -- connections -----------------------------------------------------------------------------

    def _connection(self) -> psycopg.Connection:
        if self._conn is not None and (self._pid != os.getpid() or self._conn.closed):
            self._conn = None  # a forked child never uses (or closes) its parent's connection
        if self._conn is None:
            self._conn = connect(self.url, autocommit=True)
            self._pid = os.getpid()
        return self._conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                with contextlib.suppress(psycopg.Error):
                    self._conn.close()
            self._conn = None

    def _transaction(self, run: Callable[[psycopg.Connection], T], *, doing: str, explicit: bool = False,
                     flush: bool = False, on_failure: Callable[[], None] | None = None) -> T:
        """`run(conn)` in one transaction, run again after a rollback it did not cause (see the module);
        `flush`: then wait until the WAL is flushed past it (see EARLY_RELEASE)."""
        deadline = time.monotonic() + RETRY_SECONDS
        attempt = 0
        while True:
            attempt += 1
            with self._lock:
                try:
                    conn = self._connection()
                    if explicit:  # `run` begins and commits (or rolls back) itself
                        result = run(conn)
                    else:
                        with conn.transaction():
                            result = run(conn)
                    if flush:
                        conn.execute(FLUSH)
                    return result
                except BaseException as exc:
                    if on_failure is not None:
                        on_failure()
                    if isinstance(exc, psycopg.errors.InsufficientPrivilege):
                        raise ChainPermissionError(
                            f"{WHERE}: {doing} refused to this host's database role ({exc.diag.message_primary}); "
                            "a host that decides intents logs in with a role in genesis_agent (docs/runbook.md)"
                        ) from None
                    if not isinstance(exc, (psycopg.OperationalError, LedgerError)):
                        raise
                    failure: Exception = exc
                    if isinstance(exc, RETRYABLE):
                        failure = LedgerError(
                            f"{WHERE}: PostgreSQL rolled back {doing} {attempt} times ({exc.sqlstate}); "
                            "too much contention: try again")
                    elif isinstance(exc, psycopg.OperationalError):
                        self.close()
                        failure = database_failure(exc, doing)
                    elif self._conn is not None:  # a LedgerError not from connect(): not ours to retry
                        raise
            if time.monotonic() > deadline:
                raise failure
            time.sleep(random.uniform(0, min(0.5, 0.002 * 2 ** min(attempt, 8))))

    # -- the interface of ApprovalLog ------------------------------------------------------------

    def run_locked(self, work: Callable[[PgHandle], T], keys: Iterable[str] = ()) -> T:
        """`work(handle)` with the chain locked, in one transaction, committed before returning."""
        keys = tuple(keys)
        handles: list[PgHandle] = []

        def run(conn: psycopg.Connection) -> T:
            handle = PgHandle(self, conn, keys)
            handles.append(handle)
            try:
                result = work(handle)
                handle.commit()
            except BaseException:
                handle.rollback()
                raise
            return result

        def failed() -> None:  # whatever the work applied in memory may not be in the chain
            for handle in handles:
                handle.abort()

        return self._transaction(run, doing="an append to the approval chain", explicit=True,
                                 flush=EARLY_RELEASE, on_failure=failed)

    def new_tail(self) -> PgTail:
        return PgTail()

    @contextlib.contextmanager
    def viewed(self) -> Iterator[PgView]:
        """A read-only look at the chain up to its head (no lock)."""
        with self._lock:
            conn = self._reading_connection()
            try:
                with conn.transaction():
                    yield PgView(self, conn)
            except psycopg.OperationalError as exc:
                self.close()
                raise database_failure(exc, "during a read of the approval chain") from None

    def _reading_connection(self) -> psycopg.Connection:
        try:
            conn = self._connection()
            conn.execute("SELECT 1")
            return conn
        except psycopg.OperationalError:
            self.close()
            return self._connection()

    def read(self) -> ReadResult[ApprovalDecision]:
        """Every decision (control records skipped) and every record that is not a valid one."""
        return self.read_since(0, 0)[0]

    def read_since(self, offset: int, lines: int) -> tuple[ReadResult[ApprovalDecision], int, int]:
        """The decisions and bad records after seq `offset` (as the files' `read_since` after a byte
        offset), and the last seq read; a record's seq is its line number, so it is the line count too."""
        def run(conn: psycopg.Connection) -> tuple[ReadResult[ApprovalDecision], int, int]:
            result: ReadResult[ApprovalDecision] = ReadResult()
            after = offset
            while True:
                rows = conn.execute("SELECT seq, kind, line FROM approval_chain WHERE seq > %s ORDER BY seq LIMIT %s",
                                    (after, _CHUNK)).fetchall()
                for seq, kind, line in rows:
                    if kind != "decision":
                        continue
                    try:
                        result.records.append(ApprovalDecision.model_validate_json(line))
                    except ValidationError as exc:
                        result.bad_lines.append(BadLine(WHERE, seq, describe_validation_error(exc)))
                after = rows[-1][0] if rows else after
                if len(rows) < _CHUNK:
                    return result, after, after

        return self._transaction(run, doing="a read of the approval chain")

    def position(self, offset: int, lines: int) -> SeqPosition:
        """A job's mark after seq `offset`; the witness is that record's hash, which chains all before it."""
        return SeqPosition(offset, lines, self._hash_at(offset) or "" if offset else "")

    def changed(self, position: Position) -> str | None:
        if not isinstance(position, SeqPosition):
            return "approval_chain: the checkpoint was made on the files store; rescanned"
        if position.offset and self._hash_at(position.offset) != position.witness:
            return f"approval_chain: the record read last (seq {position.offset}) is gone or was replaced"
        return None

    def _hash_at(self, seq: int) -> str | None:
        def run(conn: psycopg.Connection) -> str | None:
            row = conn.execute("SELECT hash FROM approval_chain WHERE seq = %s", (seq,)).fetchone()
            return row[0] if row else None

        return self._transaction(run, doing="a read of the approval chain")

    def latest_decisions(self) -> dict[str, ApprovalDecision]:
        return latest_per_intent(self.read().records)

    def latest_decision(self, intent_id: str) -> ApprovalDecision | None:
        """The newest decision of one intent (an index lookup)."""
        def run(conn: psycopg.Connection) -> ApprovalDecision | None:
            row = conn.execute("SELECT line FROM approval_chain WHERE intent_id = %s AND kind = 'decision' "
                               "ORDER BY seq DESC LIMIT 1", (intent_id,)).fetchone()
            return None if row is None else ApprovalDecision.model_validate_json(row[0])

        # A payment may follow: what is returned must be durable, even if its writer has not answered yet.
        return self._transaction(run, doing="a read of the approval chain", flush=EARLY_RELEASE)

    def append(self, fields: Mapping[str, Any]) -> ApprovalDecision:
        """Append one decision, chained onto the head (refused on a broken chain)."""
        def work(handle: PgHandle) -> ApprovalDecision:
            tail = PgTail()
            handle.follow(tail, lambda _record, _offset, _length: None)
            draft, body = decision_body(fields, tail.last_hash)
            digest, _seq, _length = handle.append_record(tail, body)
            return draft.model_copy(update={"hash": digest})

        return self.run_locked(work)

    # -- the policies the chain names (policy_changes.py) ----------------------------------------

    def remember_policy(self, policy_hash: str, settings_json: str) -> None:
        """Keep a policy's effective settings under its hash, once, for every host (a role that may
        not append, a jobs host reading reviews, has nothing to describe and skips it)."""
        with contextlib.suppress(ChainPermissionError):
            self._transaction(lambda conn: conn.execute(
                "INSERT INTO approval_policies (hash, settings) VALUES (%s, %s) ON CONFLICT (hash) DO NOTHING",
                (policy_hash, settings_json)), doing="a write of approval_policies")

    def recalled_policy(self, policy_hash: str) -> str | None:
        row = self._transaction(lambda conn: conn.execute(
            "SELECT settings FROM approval_policies WHERE hash = %s", (policy_hash,)).fetchone(),
            doing="a read of approval_policies")
        return None if row is None else str(row[0])

    # -- export and import (the files of §2) ----------------------------------------------------

    def export_lines(self) -> Iterator[bytes]:
        """The chain as `approval_log.jsonl`'s lines, byte for byte, in order (one snapshot)."""
        with self._lock:
            conn = self._reading_connection()
            with conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                after = 0
                while True:
                    rows = conn.execute("SELECT seq, line FROM approval_chain WHERE seq > %s ORDER BY seq LIMIT %s",
                                        (after, _CHUNK)).fetchall()
                    for _seq, line in rows:
                        yield line.encode("utf-8") + b"\n"
                    if len(rows) < _CHUNK:
                        return
                    after = rows[-1][0]

    def import_lines(self, lines: Iterable[bytes], where: str = "approval_log.jsonl") -> int:
        """Load a chain's lines (verified as `audit verify` does) in one transaction; the records the
        table already holds must be the same ones (an import is idempotent); returns how many were added."""
        def work(handle: PgHandle) -> int:
            tail = PgTail()
            handle.follow(tail, lambda _record, _offset, _length: None)
            tail.refuse_if_broken(self.path)
            previous, added = GENESIS_HASH, 0
            for number, raw in enumerate(lines, start=1):
                problem, digest, _kind = check_line(raw.rstrip(b"\n"), previous)
                if problem:
                    raise LedgerError(f"{where} line {number}: {problem}; nothing was imported")
                if number <= tail.lines:
                    if number == tail.lines and digest != tail.last_hash:
                        raise LedgerError(f"{where} line {number} is not the record {WHERE} holds there: another "
                                          "chain; nothing was imported")
                else:
                    handle.append_record(tail, {k: v for k, v in json.loads(raw).items() if k != "hash"})
                    added += 1
                previous = digest
            return added

        return self.run_locked(work)

    # -- audit verify ----------------------------------------------------------------------------

    def verify(self, wanted: set[str] | None = None) -> ChainReport:
        """`audit verify` on the table: every record's hash and link, no seq missing, the head row at
        the last record. `wanted`: decision hashes to look for (each one found is removed)."""
        def run(conn: psycopg.Connection) -> ChainReport:
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")  # one snapshot
            head_seq, head_hash = conn.execute("SELECT seq, hash FROM approval_chain_head").fetchone()
            previous, count, counts = GENESIS_HASH, 0, {}
            while True:
                rows = conn.execute("SELECT seq, line, hash FROM approval_chain WHERE seq > %s ORDER BY seq "
                                    "LIMIT %s", (count, _CHUNK)).fetchall()
                for seq, line, column_hash in rows:
                    if seq != count + 1:
                        return ChainReport(False, count, previous, count + 1,
                                           f"records {count + 1} to {seq - 1} are missing (removed)", counts=counts)
                    count = seq
                    problem, digest, kind = check_line(line.encode("utf-8"), previous)
                    if problem is None and digest != column_hash:
                        problem = "the hash column does not match the record (the row was edited)"
                    if problem:
                        return ChainReport(False, seq, previous, seq, problem, counts=counts)
                    counts[kind] = counts.get(kind, 0) + 1
                    if wanted and kind == "decision":
                        wanted.discard(digest)
                    previous = digest
                if len(rows) < _CHUNK:
                    break
            if (count, previous) != (head_seq, head_hash):
                return ChainReport(False, count, previous, min(count + 1, head_seq),
                                   f"head moved backwards: the head row names record {head_seq} (hash "
                                   f"{head_hash[:12]}…) but the chain ends at record {count}", counts=counts)
            return ChainReport(True, count, previous, counts=counts)

        return self._transaction(run, doing="a read of the approval chain")


_SHARED: dict[str, PgApprovalLog] = {}
_SHARED_LOCK = threading.Lock()
_SHARED_MAX = 8


def shared_approval_log(settings: Settings) -> PgApprovalLog:
    """The process's approval log for this database (one connection, however many users)."""
    assert settings.database_url is not None
    url = settings.database_url.get_secret_value()
    with _SHARED_LOCK:
        log = _SHARED.get(url)
        if log is None:
            while len(_SHARED) >= _SHARED_MAX:  # tests use a fresh database each: keep the newest
                _SHARED.pop(next(iter(_SHARED))).close()
            log = _SHARED[url] = PgApprovalLog(settings, url)
        return log


__all__ = ["PgApprovalLog", "PgTail", "shared_approval_log"]
