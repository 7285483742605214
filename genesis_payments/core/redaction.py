"""Keep secrets out of anything a person or another program reads (§1).

One rule for URLs, used by settings' `config` output, errors, logs, reports and artifacts:

- userinfo (`https://user:pass@host/`) is masked;
- a query or fragment parameter whose name holds a credential word (key, token, secret, password,
  sig, signature, auth, credential, session …, case-insensitive, so `apiKey`, `X-Api-Key`,
  `access_token`, `client_secret` too) keeps its name and loses its value;
- a Discord or Slack webhook path (`/api/webhooks/…`, `hooks.slack.com/services/…`) is masked,
  because the path itself is the credential.

Free text is scanned for URLs (and for bare `apikey=…` pairs an error may quote without its URL);
32-byte hex strings (private keys) are masked wherever they appear.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import SplitResult, urlsplit, urlunsplit

MASK = "***"

# Substrings of a parameter name that make its value a credential. Over-masking (`author`,
# `monkey`) costs a little readability; under-masking leaks a key.
CREDENTIAL_WORDS = (
    "key", "token", "secret", "password", "passwd", "pwd", "pass", "sig", "auth", "credential",
    "session", "jwt", "bearer", "cookie", "private",
)

_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s\"'<>`]+")
_WEBHOOK_PATH = re.compile(r"(/(?:api/(?:v\d+/)?)?webhooks/)[^\s\"'<>?#]+", re.IGNORECASE)
_SLACK_PATH = re.compile(r"(/services/)[^\s\"'<>?#]+", re.IGNORECASE)
_PAIR = re.compile(r"(?P<name>[A-Za-z0-9_.\-\[\]]+)=(?P<value>[^&;#\s\"'<>]*)")
_HEX_KEY = re.compile(r"\b0x[0-9a-fA-F]{64}\b")
_BARE_URL_CREDENTIALS = re.compile(r"(//)[^/\s:@]+:[^/\s@]+@")


def is_credential_name(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in CREDENTIAL_WORDS)


# Outside a URL, `name=value` is masked only for names that are plainly credentials, so that an
# error's `idempotency_key=…` or `payment_id=…` stays readable.
_BARE_CREDENTIAL = re.compile(
    r"^(?:x[-_])?(?:api[-_]?key|key|access[-_]?key|token|access[-_]?token|auth[-_]?token|secret|"
    r"client[-_]?secret|password|passwd|pwd|sig|signature|auth|authorization|credentials?)$",
    re.IGNORECASE,
)


def _mask_pairs(text: str, *, in_url: bool = True) -> str:
    def mask(match: re.Match[str]) -> str:
        name = match["name"]
        secret = is_credential_name(name) if in_url else bool(_BARE_CREDENTIAL.match(name))
        if not secret or not match["value"] or match["value"] == MASK:
            return match[0]
        return f"{name}={MASK}"

    return _PAIR.sub(mask, text)


def redact_url(url: str) -> str:
    """`url` with its credentials masked (userinfo, credential parameters, webhook paths)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 — a malformed port raises here; such a URL is masked whole below
    except ValueError:
        return _BARE_URL_CREDENTIALS.sub(rf"\1{MASK}@", _mask_pairs(url))
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rpartition('@')[2]}"
    path = _WEBHOOK_PATH.sub(rf"\1{MASK}", parts.path)
    if (parts.hostname or "").lower().endswith("slack.com"):
        path = _SLACK_PATH.sub(rf"\1{MASK}", path)
    masked = SplitResult(parts.scheme, netloc, path, _mask_pairs(parts.query), _mask_pairs(parts.fragment))
    return urlunsplit(masked)


def redact(text: str) -> str:
    """Mask every URL's credentials, bare `token=…` pairs and 32-byte hex keys inside free text."""
    text = _URL.sub(lambda m: redact_url(m[0]), text)
    text = _mask_pairs(text, in_url=False)
    return _HEX_KEY.sub(MASK, text)


class RedactingLogFilter(logging.Filter):
    """Redact a record's message (and its exception text) before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    try:
        message = record.getMessage()
    except Exception:  # a bad format string is logging's problem to report, not ours
        return record
    cleaned = redact(message)
    if cleaned != message:
        record.msg, record.args = cleaned, ()
    if record.exc_info and not record.exc_text:
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
    elif record.exc_text:
        record.exc_text = redact(record.exc_text)
    return record


_factory_installed = False


def install_log_redaction() -> None:
    """Redact every log record of this process as it is created, whichever logger or handler
    (Prefect's, httpx's, ours) ends up writing it. Idempotent."""
    global _factory_installed
    if _factory_installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        return redact_record(previous(*args, **kwargs))

    logging.setLogRecordFactory(factory)
    _factory_installed = True
