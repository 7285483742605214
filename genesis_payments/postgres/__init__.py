"""The PostgreSQL store of §12: past one machine, the ledgers and state live in one database.

Chosen by `GENESIS_DATABASE_URL` (`Settings.uses_postgres`); without it the files of §2 stay the
store. This room holds what every PostgreSQL store shares:

- `connection`: `connect(url)` and `transaction_retrying(conn, fn)` (40001/40P01 retried);
- `migrate`: the versioned SQL files of `migrations/`, applied by `genesis-payments db upgrade`;
- `local_cluster`: a throwaway cluster (initdb/pg_ctl in a folder, loopback only) for tests,
  `make run-postgres` and a newcomer's first try.
"""
