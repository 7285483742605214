"""The Prometheus exporter (§6): the collector, its running tally of the transaction log, the HTTP server."""
