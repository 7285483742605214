"""By hand, from the Prefect UI: halt or resume everything, one agent or one vendor (§8).

The same record as `genesis-payments halt` / `resume`; in force from the next decision on.
"""

from __future__ import annotations

from typing import Literal

from prefect import flow

from tasks.halts import record_halt
from tasks.runtime_settings import load_runtime_settings


@flow(name="halt")
def halt(
    action: Literal["halt", "resume"] = "halt",
    scope: Literal["all", "agent", "vendor"] = "all",
    key: str | None = None,
    reason: str | None = None,
    by: str = "",
) -> dict:
    """Halt (or resume) `scope` (`key`: the agent or vendor id); `reason` and `by` are kept in the chain."""
    settings = load_runtime_settings()
    return record_halt(settings, action, scope, key, reason, by)


if __name__ == "__main__":
    halt()
