"""PostgreSQL store (§12), chosen by `GENESIS_DATABASE_URL`."""
