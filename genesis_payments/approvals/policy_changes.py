"""What changed between two effective policies, for the `policy_change` record of the chain (§8).

The chain names policies by hash. To say what changed, every effective policy an agent used is
kept once under `data/a2a-x402/state/policies/<hash>.json` (its effective settings, defaults filled
in) — on PostgreSQL in table `approval_policies`, so a host can describe a change from a policy first
used on another; the change record compares the old one, when known, with the new one, setting by setting.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from genesis_payments.approvals.policy import Policy
from genesis_payments.core.files import read_json_file, write_json_atomic
from genesis_payments.core.settings import Settings


def effective_settings(policy: Policy) -> dict[str, Any]:
    """The policy as JSON, every default filled in (what `policy show` prints)."""
    return policy.model_dump(mode="json")


def _kept_path(settings: Settings, policy_hash: str) -> Path:
    return settings.state_dir / "policies" / f"{policy_hash}.json"


def remember_policy(settings: Settings, policy: Policy) -> None:
    """Keep this policy's effective settings under its hash (once), so a later change can be described."""
    if settings.uses_postgres:
        from genesis_payments.ledgers.approval_log import open_approval_log

        open_approval_log(settings).remember_policy(policy.hash, json.dumps(effective_settings(policy)))
        return
    path = _kept_path(settings, policy.hash)
    if not path.exists():
        write_json_atomic(path, effective_settings(policy), mode=0o600)


def recalled_policy(settings: Settings, policy_hash: str) -> dict[str, Any] | None:
    if settings.uses_postgres:
        from genesis_payments.ledgers.approval_log import open_approval_log

        text = open_approval_log(settings).recalled_policy(policy_hash)
        found = None if text is None else json.loads(text)
    else:
        found = read_json_file(_kept_path(settings, policy_hash), default=None)
    return found if isinstance(found, dict) else None


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, Mapping) and value:
        flat: dict[str, Any] = {}
        for key in sorted(value):
            flat.update(_flatten(value[key], f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: value}


def _text(value: Any) -> str:
    return "unset" if value is None else json.dumps(value, ensure_ascii=False, default=str)


def describe_changes(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> list[str]:
    """One line per setting that differs: `name: old -> new`."""
    if old is None:
        return ["the previous policy's settings were not kept on this machine; the new policy in full: "
                + json.dumps(new, ensure_ascii=False, sort_keys=True)]
    before, after = _flatten(old), _flatten(new)
    lines = []
    for name in sorted(set(before) | set(after)):
        if before.get(name) != after.get(name):
            lines.append(f"{name}: {_text(before.get(name))} -> {_text(after.get(name))}")
    return lines or ["same settings, different file (formatting or key order)"]
