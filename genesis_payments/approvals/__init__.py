"""Approvals (§8): the policy, the rules, the agent that locks and logs each decision, spend state, review."""
