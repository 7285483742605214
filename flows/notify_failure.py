"""Post a Failed or Crashed Genesis job run to the alerts channel.

Started by the `genesis-payments: failed runs to alerts` automation (deployments/automations.py),
so infrastructure failures reach people even when the job itself could not say anything.
"""

from __future__ import annotations

import sys

from prefect import flow

from tasks.discord import send_alert
from tasks.runtime_settings import load_runtime_settings


@flow(name="notify-failure", retries=0)
def notify_failure(flow_run_id: str, flow_run_name: str = "", state: str = "") -> int:
    """Tell the alerts channel which run failed and where to look; 1 if a message was sent."""
    settings = load_runtime_settings().require_ready()
    run_id = flow_run_id.removeprefix("prefect.flow-run.")
    state_name = state.rsplit(".", 1)[-1] or "Failed"
    embed = {
        "title": f"Flow run {flow_run_name or run_id} ended {state_name}",
        "description": (
            f"Flow run `{run_id}` ended **{state_name}**. Open it in the Prefect UI to read its logs, "
            "fix the cause, then press Retry."
        ),
        "color": 0xE74C3C,
    }
    return send_alert(settings, f"flow-run:{run_id}", state_name, "alerts", {"embeds": [embed]})


if __name__ == "__main__":
    notify_failure(sys.argv[1] if len(sys.argv) > 1 else "manual")
