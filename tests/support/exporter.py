"""Helpers for exporter tests: payment event lines, scraping `/metrics` as exact text, free ports."""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

_SAMPLE = re.compile(r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})? (?P<value>\S+)$')
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def payment_event(event_id: str, payment_id: str, status: str, ts: str, **fields: Any) -> dict[str, Any]:
    event = {
        "event_id": event_id,
        "ts": ts,
        "payment_id": payment_id,
        "status": status,
        "agent": "agent-a",
        "vendor": "vendor-x",
        "chain": "eip155:8453",
        "token": "USDC",
        "amount_usd": "1.000000",
    }
    event.update(fields)
    return event


def append_lines(path: Path, items: Iterable[dict[str, Any] | str | bytes]) -> None:
    """Append events (dicts) or raw lines (str/bytes, written as given plus `\\n`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as handle:
        for item in items:
            if isinstance(item, dict):
                handle.write((json.dumps(item) + "\n").encode())
            elif isinstance(item, str):
                handle.write(item.encode() + b"\n")
            else:
                handle.write(item + b"\n")


def fetch(url: str, timeout: float = 5.0) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.status, response.read().decode()


def parse_samples(body: str) -> dict[tuple[str, frozenset[tuple[str, str]]], Decimal]:
    """Every sample of a text exposition, its value as the exact Decimal of the printed text."""
    samples = {}
    for line in body.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        assert match, f"unparseable exposition line: {line!r}"
        labels = frozenset(_LABEL.findall(match["labels"] or ""))
        samples[(match["name"], labels)] = Decimal(match["value"])
    return samples


def sample(samples: dict, name: str, **labels: str) -> Decimal | None:
    return samples.get((name, frozenset(labels.items())))


def samples_named(samples: dict, name: str) -> dict[frozenset, Decimal]:
    return {labels: value for (n, labels), value in samples.items() if n == name}



def one_shot(event_id: str, payment_id: str, ts: str, **fields: Any) -> list[dict[str, Any]]:
    """A one-shot payment (§4): `authorized`, then `captured` (`event_id`), both at `ts`."""
    return [payment_event(f"{event_id}-auth", payment_id, "authorized", ts, **fields),
            payment_event(event_id, payment_id, "captured", ts, **fields)]
