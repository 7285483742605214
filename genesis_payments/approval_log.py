"""The approval log (§4, §8): one decision per line, each chained to the one before by SHA-256.

`hash` is the hex SHA-256 of the record without `hash`, as canonical JSON; the first record's
`prev_hash` is 64 zeros. Appends compute the chain under the file's lock, so concurrent writers in
several processes still produce one unbroken chain.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from genesis_payments.jsonl import (
    BadLineError,
    JsonlAppender,
    LockedAppender,
    ReadResult,
    canonical_json,
    decode_line,
    read_jsonl,
)
from genesis_payments.records import ApprovalDecision
from genesis_payments.settings import Settings
from genesis_payments.timestamps import format_utc, utc_now

GENESIS_HASH = "0" * 64


def decision_hash(record: Mapping[str, Any]) -> str:
    """SHA-256 of the record's canonical JSON, `hash` left out."""
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


def last_hash(path: Path) -> str:
    """`hash` of the file's last complete line, or 64 zeros for an empty or missing file."""
    try:
        with open(path, "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            block = 4096
            tail = b""
            while size > 0:
                start = max(0, size - block)
                handle.seek(start)
                tail = handle.read(size - start) + tail
                # The piece after the last newline is empty or a torn write: never a chain link.
                for raw in reversed(tail.split(b"\n")[:-1]):
                    if raw.strip():
                        try:
                            return str(decode_line(raw)["hash"])
                        except (BadLineError, KeyError):
                            break
                if start == 0:
                    break
                size, block = start, block * 4
                tail = b""
    except FileNotFoundError:
        pass
    return GENESIS_HASH


class ApprovalLog:
    """Appends and reads `approval_log.jsonl`."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self.path = self.settings.approval_log_path
        self._appender = JsonlAppender(self.path, fsync=self.settings.fsync)

    @contextmanager
    def locked(self) -> Iterator[LockedAppender]:
        """The log's lock, for a decision whose rules must be checked and appended atomically."""
        with self._appender.locked() as handle:
            yield handle

    def append_locked(self, handle: LockedAppender, fields: Mapping[str, Any], prev_hash: str) -> ApprovalDecision:
        """Chain `fields` onto `prev_hash` and append; the caller holds the lock."""
        record = dict(fields)
        record.setdefault("decision_id", uuid.uuid4().hex)
        record.setdefault("ts", format_utc(utc_now()))
        record["prev_hash"] = prev_hash
        record.pop("hash", None)
        decision = ApprovalDecision.model_validate({**record, "hash": GENESIS_HASH})
        on_disk = decision.to_json_dict()
        on_disk["hash"] = decision_hash(on_disk)
        decision = ApprovalDecision.model_validate(on_disk)
        handle.append(on_disk)
        return decision

    def append(self, fields: Mapping[str, Any]) -> ApprovalDecision:
        """Append one decision, chained onto the current last line."""
        with self.locked() as handle:
            return self.append_locked(handle, fields, last_hash(self.path))

    def read(self) -> ReadResult[ApprovalDecision]:
        return read_jsonl(self.path, ApprovalDecision)

    def latest_decisions(self) -> dict[str, ApprovalDecision]:
        """The newest decision for each intent (a review's resolution replaces `pending_review`)."""
        latest: dict[str, ApprovalDecision] = {}
        for decision in self.read().records:
            latest[decision.intent_id] = decision
        return latest

    def latest_decision(self, intent_id: str) -> ApprovalDecision | None:
        return self.latest_decisions().get(intent_id)
