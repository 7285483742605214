"""`GenesisDiscord` (§7): the dashboard and alerts channels.

Fake mode appends every payload it would have posted, with its channel, to the outbox file
(`data/a2a-x402/outbox/discord.jsonl`); attachments are saved next to it and listed in the line.
With `fake_discord_url` set it posts instead, as live mode does, to `<url>/<channel>` on loopback:
a Discord stand-in, or a closed port to watch a job fail on Discord and be retried.
Live mode posts webhook embeds with httpx, cut to Discord's limits, mentioning nobody:

- HTTP 429 waits the `retry_after` Discord gives, then tries again;
- 5xx answers and network errors are retried with exponential backoff and jitter;
- any other 4xx fails at once (`DiscordRejected`): a wrong or deleted webhook does not heal.

Every try counts against `settings.discord_attempts`. A webhook URL is a credential (anyone holding
it can post), so it never appears in an exception, a log line or an outbox record: errors name the
channel, and httpx's own request log lines are redacted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import httpx

# The errors of this module live with the others in core.errors (imported from here too).
from genesis_payments.core.errors import ConfigError, DiscordRejected, DiscordUnavailable
from genesis_payments.core.records import SpendSummary
from genesis_payments.core.redaction import RedactingLogFilter, redact
from genesis_payments.core.settings import Settings
from genesis_payments.core.timestamps import format_utc, utc_now
from genesis_payments.core.wording import counted
from genesis_payments.ledgers.jsonl import JsonlAppender
from genesis_payments.notify.discord_limits import fit_payload

Channel = Literal["dashboard", "alerts"]
CHANNELS: tuple[str, ...] = ("dashboard", "alerts")
NO_MENTIONS: dict[str, list[str]] = {"parse": []}
MAX_RETRY_AFTER_SECONDS = 300.0

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    content_type: str = "application/octet-stream"


# httpx logs each request's URL at INFO; a webhook URL must not reach any handler.
_HTTPX_FILTER = RedactingLogFilter()
for _name in ("httpx", "httpcore"):
    if not any(isinstance(f, RedactingLogFilter) for f in logging.getLogger(_name).filters):
        logging.getLogger(_name).addFilter(_HTTPX_FILTER)


class GenesisDiscord:
    def __init__(
        self,
        settings: Settings | None = None,
        *,
        webhook_urls: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """`webhook_urls` (channel → URL) override the settings' URLs (tests point them at a fake server)."""
        self.settings = settings or Settings()
        self._webhook_urls = dict(webhook_urls or {})
        self._outbox = JsonlAppender(self.settings.outbox_path, fsync=self.settings.fsync, root=self.settings.root)
        self._sleep = sleep
        self._transport = transport

    def send(self, channel: Channel, payload: Mapping[str, Any], files: Sequence[Attachment] = ()) -> None:
        """Deliver one webhook payload (`embeds`, `content`, …); mentions are always disabled."""
        if channel not in CHANNELS:
            raise ValueError(f"unknown Discord channel {channel!r}; use one of {CHANNELS}")
        body = {**fit_payload(payload), "allowed_mentions": NO_MENTIONS}
        if self.settings.use_fake and self.settings.fake_discord_url:
            self._post(channel, f"{self.settings.fake_discord_url.rstrip('/')}/{channel}", body, files)
        elif self.settings.use_fake:
            self._write_outbox(channel, body, files)
        else:
            self._post(channel, self._webhook_url(channel), body, files)

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

    # -- fake mode ---------------------------------------------------------------------------

    def _write_outbox(self, channel: str, body: dict[str, Any], files: Sequence[Attachment]) -> None:
        line: dict[str, Any] = {"ts": format_utc(utc_now()), "channel": channel, "payload": body}
        if files:
            folder = self.settings.outbox_path.parent / "attachments"
            folder.mkdir(parents=True, exist_ok=True)
            listed = []
            for item in files:
                digest = hashlib.sha256(item.content).hexdigest()
                path = folder / f"{digest[:16]}-{item.filename}"
                path.write_bytes(item.content)
                listed.append({"filename": item.filename, "bytes": len(item.content), "sha256": digest,
                               "path": str(path.relative_to(self.settings.root))})
            line["attachments"] = listed
        self._outbox.append(line)

    # -- live mode ---------------------------------------------------------------------------

    def _webhook_url(self, channel: str) -> str:
        url = self._webhook_urls.get(channel)
        if not url:
            secret = getattr(self.settings, f"discord_{channel}_webhook_url")
            url = secret.get_secret_value().strip() if secret is not None else ""
        if not url:
            raise ConfigError(f"no webhook for the Discord {channel} channel: set GENESIS_DISCORD_"
                              f"{channel.upper()}_WEBHOOK_URL or the Prefect Secret block")
        return url

    def _post(self, channel: str, url: str, body: dict[str, Any], files: Sequence[Attachment]) -> None:
        attempts = self.settings.discord_attempts
        delay = self.settings.discord_backoff_seconds
        last_problem = "no attempt made"
        with httpx.Client(timeout=self.settings.http_timeout_seconds, transport=self._transport) as client:
            for attempt in range(1, attempts + 1):
                wait: float | None
                try:
                    response = client.post(url, params={"wait": "true"}, **_request_body(body, files))
                except httpx.HTTPError as exc:
                    last_problem = f"network error ({type(exc).__name__})"
                    wait = _jittered(delay)
                    delay *= 2
                else:
                    status = response.status_code
                    if status < 300:
                        return
                    if status == 429:
                        wait = _retry_after(response)
                        last_problem = f"rate limited (HTTP 429, retry_after {wait:.2f} s)"
                        if wait > MAX_RETRY_AFTER_SECONDS:
                            break
                    elif status >= 500:
                        last_problem = f"HTTP {status}"
                        wait = _jittered(delay)
                        delay *= 2
                    else:
                        raise DiscordRejected(
                            f"Discord rejected the {channel} message with HTTP {status}"
                            f"{_discord_reason(response)}: check the {channel} webhook (deleted or wrong?)"
                        )
                if attempt < attempts:
                    log.warning("Discord %s channel: %s; try %d of %d in %.2f s",
                                channel, last_problem, attempt + 1, attempts, wait)
                    self._sleep(wait)
        raise DiscordUnavailable(f"Discord {channel} channel: {last_problem} after {counted(attempts, 'try', 'tries')}")


def _request_body(body: dict[str, Any], files: Sequence[Attachment]) -> dict[str, Any]:
    if not files:
        return {"json": body}
    body = {**body, "attachments": [{"id": i, "filename": f.filename} for i, f in enumerate(files)]}
    return {
        "data": {"payload_json": json.dumps(body)},
        "files": [(f"files[{i}]", (f.filename, f.content, f.content_type)) for i, f in enumerate(files)],
    }


def _retry_after(response: httpx.Response) -> float:
    """Seconds to wait from a 429: the JSON `retry_after`, else the Retry-After header, else 1."""
    try:
        value = float(response.json().get("retry_after"))
    except (ValueError, TypeError, AttributeError):
        try:
            value = float(response.headers.get("retry-after", "1"))
        except ValueError:
            value = 1.0
    return max(0.0, value)


def _jittered(delay: float) -> float:
    return delay * random.uniform(0.5, 1.5)


def _discord_reason(response: httpx.Response) -> str:
    try:
        message = response.json().get("message")
    except (ValueError, AttributeError):
        return ""
    return f" ({redact(str(message))[:200]})" if message else ""
