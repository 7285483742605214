"""What a person sees when a payment waits for review (the Prefect UI form's description)."""

from __future__ import annotations

from genesis_payments.core.records import ApprovalDecision
from genesis_payments.core.wording import duration


def review_request_markdown(decision: ApprovalDecision, timeout_seconds: int) -> str:
    """The intent's details as Markdown, for the approve/deny form of a paused flow run."""
    extra = decision.model_extra or {}
    rows = [
        ("Intent", decision.intent_id),
        ("Amount", f"{decision.cost_usd} USDC"),
        ("Agent", decision.agent),
        ("Vendor", decision.vendor),
        ("Chain / token", f"{extra.get('chain', '—')} / {extra.get('token', '—')}"),
        ("Business", decision.business_id),
        ("Component", decision.component),
        ("Strategy", decision.strategy),
        ("Mandate", str(extra.get("mandate_id", "—"))),
        ("Decision id", decision.decision_id),
    ]
    table = "\n".join(f"| {name} | {_cell(value)} |" for name, value in rows)
    why = "\n".join(f"- {reason}" for reason in decision.reasons)
    return (
        f"## Payment waiting for review: {_cell(decision.cost_usd)} USDC to {_cell(decision.vendor)}\n\n"
        f"| field | value |\n|---|---|\n{table}\n\n{why}\n\n"
        f"Turn **Approve** on to let the payment go ahead (leave it off to deny it), type your name in "
        f"**Reviewer**, then press **Submit**. Without an answer within {duration(timeout_seconds)} the intent "
        f"is denied.\n"
    )


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")
