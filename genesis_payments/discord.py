"""`GenesisDiscord` (§7): the dashboard and alerts channels.

Fake mode appends every payload it would have posted, with its channel, to the outbox file
(`data/a2a-x402/outbox/discord.jsonl`). Live mode posts webhook embeds (see `send`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from genesis_payments.errors import ConfigError
from genesis_payments.jsonl import JsonlAppender
from genesis_payments.records import SpendSummary
from genesis_payments.settings import Settings
from genesis_payments.timestamps import format_utc, utc_now

Channel = Literal["dashboard", "alerts"]
NO_MENTIONS: dict[str, list[str]] = {"parse": []}


class GenesisDiscord:
    def __init__(self, settings: Settings | None = None, *, webhook_urls: Mapping[str, str] | None = None) -> None:
        """`webhook_urls` (channel → URL) come from a Prefect Secret block when the task layer has one."""
        self.settings = settings or Settings()
        self._webhook_urls = dict(webhook_urls or {})
        self._outbox = JsonlAppender(self.settings.outbox_path, fsync=self.settings.fsync)

    def send(self, channel: Channel, payload: Mapping[str, Any]) -> None:
        """Deliver one webhook payload (`embeds`, `content`, …); mentions are always disabled."""
        body = {**payload, "allowed_mentions": NO_MENTIONS}
        if self.settings.use_fake:
            self._outbox.append({"ts": format_utc(utc_now()), "channel": channel, "payload": body})
            return
        raise ConfigError("live Discord delivery is not available yet")

    def payment_business_summary(self, summary: SpendSummary) -> None:
        """Post one business's spend summary to the dashboard channel."""
        data = summary.to_json_dict()
        fields = [
            {"name": "Total spent", "value": f"{data['total_spent_usd']} USDC", "inline": True},
            {"name": "Approved / denied / pending", "inline": True,
             "value": f"{summary.approved_intents} / {summary.denied_intents} / {summary.pending_review}"},
        ]
        for title, key in (("By vendor", "by_vendor"), ("By agent", "by_agent"), ("By component", "by_component")):
            lines = [f"{name}: {amount}" for name, amount in sorted(data[key].items())]
            fields.append({"name": title, "value": "\n".join(lines) or "—", "inline": False})
        embed = {"title": f"Spend summary — {summary.business_id}", "fields": fields, "timestamp": data["ts"]}
        self.send("dashboard", {"embeds": [embed]})
