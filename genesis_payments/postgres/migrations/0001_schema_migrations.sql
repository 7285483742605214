-- The migration runner's own table (genesis_payments/postgres/migrate.py): one row per applied
-- file, written in the same transaction as the file itself.
CREATE TABLE schema_migrations (
    version    text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);
