"""Shared helpers for approval tests: a fake vendor catalogue and intent builders."""

from __future__ import annotations

import itertools
from typing import Any

FAKE_VENDORS = (
    "payments:deploy:vercel",
    "media:images:replicate",
    "llm:openai",
    "voice:elevenlabs",
    "search:serpapi",
)

_counter = itertools.count()


class FakeVendors:
    """The vendor cache's `supports` over a fixed catalogue: every fake vendor on Base, in USDC."""

    def __init__(self, vendors: tuple[str, ...] | list[str] = FAKE_VENDORS, chains: tuple[str, ...] = ("eip155:8453",),
                 tokens: tuple[str, ...] = ("USDC",)) -> None:
        self.vendors = set(vendors)
        self.chains = set(chains)
        self.tokens = set(tokens)

    def supports(self, vendor: str, chain: str, token: str) -> bool:
        return vendor in self.vendors and chain in self.chains and token in self.tokens


def intent(cost: str = "1", **fields: Any) -> dict[str, Any]:
    """A valid intent dict with a fresh id; `fields` override any part."""
    base = {
        "intent_id": f"intent-{next(_counter)}",
        "agent": "agent-a",
        "vendor": "llm:openai",
        "component": "copy",
        "strategy": "launch",
        "cost_usd": cost,
        "business_id": "biz-1",
    }
    base.update(fields)
    return base


def chain_records(settings: Any) -> list[dict[str, Any]]:
    """Every record of the approval chain in chain order, from the store in use (files or PostgreSQL)."""
    import json

    if settings.uses_postgres:
        import psycopg

        with psycopg.connect(settings.database_url.get_secret_value()) as conn:
            return [json.loads(line) for (line,) in conn.execute("SELECT line FROM approval_chain ORDER BY seq")]
    if not settings.approval_log_path.exists():
        return []
    return [json.loads(line) for line in settings.approval_log_path.read_text().splitlines()]
