"""Discord's embed limits (§7): content beyond them is cut with a marker, never rejected.

Limits from Discord's API docs: title 256, description 4096, field name 256, field value 1024,
footer text 2048, author name 256, 25 fields per embed, 10 embeds per message, message content
2000, and 6000 characters across all embeds of one message.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from genesis_payments.core.wording import counted

MARKER = "… (truncated)"
TITLE, DESCRIPTION, FIELD_NAME, FIELD_VALUE, FOOTER, AUTHOR = 256, 4096, 256, 1024, 2048, 256
FIELDS, EMBEDS, CONTENT, TOTAL = 25, 10, 2000, 6000


def cut(text: Any, limit: int) -> str:
    """`text` within `limit` characters, ending in the marker when something was cut."""
    text = "" if text is None else str(text)
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(MARKER))] + MARKER[: limit]


def fit_payload(payload: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a webhook payload with every embed, field and the content within Discord's limits."""
    body = copy.deepcopy(dict(payload))
    if "content" in body and body["content"] is not None:
        body["content"] = cut(body["content"], CONTENT)
    embeds = [fit_embed(e) for e in body.get("embeds", [])[:EMBEDS]]
    if len(body.get("embeds", [])) > EMBEDS and embeds:
        embeds[-1]["footer"] = {"text": cut(f"{counted(len(body['embeds']) - EMBEDS, 'more embed')} not shown", FOOTER)}
    if embeds:
        _fit_total(embeds)
        body["embeds"] = embeds
    return body


def fit_embed(embed: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(embed)
    if "title" in out:
        out["title"] = cut(out["title"], TITLE)
    if "description" in out:
        out["description"] = cut(out["description"], DESCRIPTION)
    if isinstance(out.get("footer"), Mapping):
        out["footer"] = {**out["footer"], "text": cut(out["footer"].get("text"), FOOTER)}
    if isinstance(out.get("author"), Mapping):
        out["author"] = {**out["author"], "name": cut(out["author"].get("name"), AUTHOR)}
    fields = list(out.get("fields", []))
    if fields or "fields" in out:
        kept = [
            {**f, "name": cut(f.get("name") or "—", FIELD_NAME), "value": cut(f.get("value") or "—", FIELD_VALUE)}
            for f in fields[:FIELDS]
        ]
        if len(fields) > FIELDS:
            hidden = counted(len(fields) - FIELDS + 1, "more field")
            kept[-1] = {"name": "More", "value": f"{hidden} not shown", "inline": False}
        out["fields"] = kept
    return out


def embed_size(embed: Mapping[str, Any]) -> int:
    """Characters Discord counts towards the 6000 total."""
    size = len(embed.get("title") or "") + len(embed.get("description") or "")
    size += sum(len(f.get("name") or "") + len(f.get("value") or "") for f in embed.get("fields", []))
    size += len((embed.get("footer") or {}).get("text") or "") + len((embed.get("author") or {}).get("name") or "")
    return size


def _fit_total(embeds: list[dict[str, Any]]) -> None:
    """Shorten descriptions, then drop trailing fields, until all embeds fit in TOTAL characters."""
    excess = sum(embed_size(e) for e in embeds) - TOTAL
    for embed in reversed(embeds):
        if excess <= 0:
            return
        description = embed.get("description") or ""
        if description:
            keep = max(len(MARKER), len(description) - excess)
            embed["description"] = cut(description, keep)
            excess -= len(description) - len(embed["description"])
    for embed in reversed(embeds):
        while excess > 0 and embed.get("fields"):
            field = embed["fields"].pop()
            excess -= len(field.get("name") or "") + len(field.get("value") or "")
    for embed in reversed(embeds):
        if excess <= 0:
            return
        title = embed.get("title") or ""
        if title:
            embed["title"] = cut(title, max(len(MARKER), len(title) - excess))
            excess -= len(title) - len(embed["title"])
