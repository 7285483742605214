"""Serving and deploying the flows: serve entry, work pool setup, Prometheus rules, dashboards."""
