"""The approval policy (§8): a JSON file with documented defaults; its SHA-256 names it in decisions.

A fresh root has no policy file and runs with `DEFAULT_POLICY`. When the file exists it is read
whole; any field it leaves out keeps its default. `Policy.hash` is the SHA-256 of the file's bytes
(so `sha256sum config/policy.json` matches the `policy` field of every decision made under it), or
of the canonical JSON of the defaults when there is no file. See docs/policy.md.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import stat
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from genesis_payments.core.errors import ConfigError
from genesis_payments.core.money import Usd, to_micro
from genesis_payments.core.settings import Settings
from genesis_payments.ledgers.jsonl import canonical_json, describe_validation_error

Scope = Literal["agent", "vendor", "business"]
Period = Literal["daily", "monthly"]
SCOPES: tuple[Scope, ...] = ("agent", "vendor", "business")
PERIODS: tuple[Period, ...] = ("daily", "monthly")

# The vendor ids the fake vendor catalogue knows; a fresh root may spend with these alone.
DEFAULT_VENDORS = [
    "payments:deploy:vercel",
    "media:images:replicate",
    "llm:openai",
    "voice:elevenlabs",
    "search:serpapi",
]

DEFAULT_POLICY: dict[str, Any] = {
    "version": 1,
    "vendor_allowlist": DEFAULT_VENDORS,
    "flagged_agents": [],
    "flagged_mandates": [],
    "max_intent_usd": "100",
    "review_threshold_usd": "25",
    "review_timeout_seconds": 3600,
    "default_chain": "eip155:8453",
    "default_token": "USDC",
    "budgets": {
        "agent": {"default": {"daily": "250", "monthly": "2500"}, "overrides": {}},
        "vendor": {"default": {"daily": "1000", "monthly": "10000"}, "overrides": {}},
        "business": {"default": {"daily": "500", "monthly": "5000"}, "overrides": {}},
    },
}


class Limits(BaseModel):
    """Budgets of one period pair; `null` (None) means no limit for that period."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    daily: Usd | None = None
    monthly: Usd | None = None


class ScopeBudgets(BaseModel):
    """A default for every agent (vendor, business) plus per-id overrides of single fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    default: Limits = Field(default_factory=Limits)
    overrides: dict[str, dict[str, Usd | None]] = Field(default_factory=dict)

    @field_validator("overrides")
    @classmethod
    def _known_periods(cls, overrides: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        for key, fields in overrides.items():
            unknown = set(fields) - set(PERIODS)
            if unknown:
                raise ValueError(f"override {key!r} has unknown period(s) {sorted(unknown)}; use daily, monthly")
        return overrides


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = 1
    vendor_allowlist: list[str] | None = None
    flagged_agents: list[str] = Field(default_factory=list)
    flagged_mandates: list[str] = Field(default_factory=list)
    max_intent_usd: Usd | None = None
    review_threshold_usd: Usd | None = None
    review_timeout_seconds: int = Field(3600, ge=1)
    default_chain: str = "eip155:8453"
    default_token: str = "USDC"
    budgets: dict[Scope, ScopeBudgets] = Field(default_factory=dict)
    # Approved intents per agent in any 60 seconds; None = no limit. 0 is refused: "deny everything"
    # is a halt (`genesis-payments halt --agent A`), which says who stopped the agent and why.
    velocity_per_agent_per_minute: int | None = None
    hash: str = Field("", exclude=True)
    source: str = Field("defaults", exclude=True)

    @field_validator("velocity_per_agent_per_minute")
    @classmethod
    def _velocity_at_least_one(cls, value: int | None) -> int | None:
        if value is not None and value < 1:
            raise ValueError(
                f"must be at least 1 approved intent per minute, not {value} (null turns the limit off; "
                "to stop an agent use `genesis-payments halt --agent ID`)"
            )
        return value

    def limit_micro(self, scope: Scope, key: str, period: Period) -> int | None:
        """The budget of one agent/vendor/business for one period in micro-USDC, None = unlimited."""
        budgets = self.budgets.get(scope)
        if budgets is None:
            return None
        override = budgets.overrides.get(key)
        if override is not None and period in override:
            amount = override[period]
        else:
            amount = getattr(budgets.default, period)
        return None if amount is None else to_micro(amount)


def _merge(defaults: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """Fields the file leaves out keep their defaults; `budgets` merges per scope."""
    merged = copy.deepcopy(dict(defaults))
    for key, value in given.items():
        if key == "budgets" and isinstance(value, Mapping):
            budgets = merged.setdefault("budgets", {})
            for scope, scope_value in value.items():
                budgets[scope] = scope_value
        else:
            merged[key] = value
    return merged


def policy_from_mapping(data: Mapping[str, Any], *, content_hash: str | None = None, source: str = "inline") -> Policy:
    """Build a policy from a mapping (defaults filled in); the hash is of its canonical JSON unless given."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"policy ({source}) must be a JSON object, not {type(data).__name__}")
    merged = _merge(DEFAULT_POLICY, data)
    try:
        policy = Policy.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(f"invalid policy ({source}): {describe_validation_error(exc)}") from None
    if content_hash is None:
        content_hash = hashlib.sha256(canonical_json(_jsonable(data)).encode("utf-8")).hexdigest()
    return policy.model_copy(update={"hash": content_hash, "source": source})


def default_policy() -> Policy:
    """What a fresh root runs with (no policy file)."""
    return policy_from_mapping({}, content_hash=default_policy_hash(), source="defaults")


def default_policy_hash() -> str:
    return hashlib.sha256(canonical_json(DEFAULT_POLICY).encode("utf-8")).hexdigest()


def load_policy(settings: Settings) -> Policy:
    """The policy at `settings.effective_policy_path`, or the defaults when the file does not exist."""
    return load_policy_file(settings.effective_policy_path)


def load_policy_file(path: Path) -> Policy:
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            _refuse_writable_by_others(path, os.fstat(handle.fileno()).st_mode)
            raw = handle.read()
    except FileNotFoundError:
        return default_policy()
    except OSError as exc:
        raise ConfigError(f"cannot read policy {path}: {exc.strerror}") from exc
    try:
        data = json.loads(raw.decode("utf-8"), parse_float=Decimal)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"policy {path} is not valid JSON: {exc}") from None
    return policy_from_mapping(data, content_hash=hashlib.sha256(raw).hexdigest(), source=str(path))


def _refuse_writable_by_others(path: Path, mode: int) -> None:
    # An agent must not be able to raise its own limits: only the operator who owns the policy may
    # write it (run agents as another user; see docs/runbook.md).
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise ConfigError(
            f"policy {path} is writable by {'others' if mode & stat.S_IWOTH else 'its group'} "
            f"(mode {stat.S_IMODE(mode):04o}); only its owner may write it: chmod go-w {path}"
        )


def policy_file_identity(path: Path | str) -> tuple[int, int, int] | None:
    """(inode, size, mtime) of the policy file, None when absent: a cheap "did it change" check."""
    try:
        found = os.stat(path)
    except FileNotFoundError:
        return None
    return (found.st_ino, found.st_size, found.st_mtime_ns)


def _jsonable(data: Any) -> Any:
    if isinstance(data, Decimal):
        return str(data)
    if isinstance(data, Mapping):
        return {str(k): _jsonable(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_jsonable(v) for v in data]
    return data


__all__ = [
    "DEFAULT_POLICY",
    "DEFAULT_VENDORS",
    "PERIODS",
    "SCOPES",
    "Limits",
    "Policy",
    "default_policy",
    "load_policy",
    "load_policy_file",
    "policy_from_mapping",
]
