"""Keep secrets out of anything a person or another program reads (§1)."""

from __future__ import annotations

import re

MASK = "***"
_WEBHOOK_PATH = re.compile(r"(/webhooks/)[^\s\"'<>]+")
_URL_CREDENTIALS = re.compile(r"(https?://)[^/\s:@]+:[^/\s@]+@")
_HEX_KEY = re.compile(r"\b0x[0-9a-fA-F]{64}\b")


def redact(text: str) -> str:
    """Mask webhook paths, credentials in URLs and 32-byte hex keys inside free text."""
    text = _WEBHOOK_PATH.sub(rf"\1{MASK}", text)
    text = _URL_CREDENTIALS.sub(rf"\1{MASK}@", text)
    return _HEX_KEY.sub(MASK, text)
