-- Least privilege (§12, docs/runbook.md "Several machines"): three group roles; each host logs in
-- with a role of its own that is a member of one of them (CREATE ROLE host_a LOGIN IN ROLE genesis_agent).
--
--   genesis_agent  buyers and the meta agent: read everything; append decisions, payment events,
--                  finance entries; keep the chain head, policies and payment authorizations up to
--                  date. Never UPDATE, DELETE or TRUNCATE a ledger.
--   genesis_jobs   the scheduled jobs: read everything; write only their own state (alert state,
--                  checkpoints) and the spend summaries. No ledger write at all.
--   genesis_admin  operators (export/import, halts, reviews): what the agents may do, plus clearing
--                  job state. Still never UPDATE/DELETE on a ledger.
--
-- The schema itself (tables, migrations) belongs to the role that runs `genesis-payments db upgrade`,
-- which none of these is. This file was written before 0002/0003 were final: every grant names its
-- table and is skipped when that table does not exist; a table no line names gets SELECT only (the
-- default privileges below), so a later table is closed until a migration says who may write it.

-- The roles, once per cluster (roles are cluster-wide; another database may have made them already).
DO $$
DECLARE
    name text;
BEGIN
    FOREACH name IN ARRAY ARRAY['genesis_agent', 'genesis_jobs', 'genesis_admin'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = name) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', name);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;  -- created meanwhile by an upgrade of another database on this cluster
            END;
        END IF;
    END LOOP;
END
$$;

-- Nobody but these roles (and the owner) connects or creates objects.
DO $$
BEGIN
    EXECUTE format('REVOKE CONNECT, TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO genesis_agent, genesis_jobs, genesis_admin', current_database());
END
$$;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO genesis_agent, genesis_jobs, genesis_admin;

-- Grant `privileges` on `table_name` to `grantee` when the table exists; the one place grants are made.
CREATE FUNCTION genesis_grant(table_name text, privileges text, grantee text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF to_regclass(table_name) IS NOT NULL THEN
        EXECUTE format('GRANT %s ON TABLE %I TO %I', privileges, table_name, grantee);
    END IF;
END
$$;

-- Helpers for this and later migrations only.
REVOKE EXECUTE ON FUNCTION genesis_grant(text, text, text) FROM PUBLIC;

-- An append-only ledger refuses UPDATE, DELETE and TRUNCATE whoever asks, the owner included (a belt
-- on top of the grants: a role granted too much by mistake still cannot rewrite history).
CREATE FUNCTION genesis_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE FUNCTION genesis_protect_ledger(table_name text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF to_regclass(table_name) IS NULL THEN
        RETURN;
    END IF;
    EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON TABLE %I FROM PUBLIC, genesis_agent, genesis_jobs, genesis_admin',
                   table_name);
    -- A table whose own migration made it append-only already (0002's approval_chain) keeps its trigger.
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = to_regclass(table_name)
                   AND NOT tgisinternal AND tgname LIKE '%append_only%') THEN
        EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE OR DELETE ON %I FOR EACH ROW '
                       'EXECUTE FUNCTION genesis_append_only()', table_name || '_append_only', table_name);
        EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON %I FOR EACH STATEMENT '
                       'EXECUTE FUNCTION genesis_append_only()', table_name || '_append_only_truncate', table_name);
    END IF;
END
$$;

REVOKE EXECUTE ON FUNCTION genesis_protect_ledger(text) FROM PUBLIC;

-- Everyone of ours reads everything (the jobs reconcile across all of it); sequences back the
-- bigserial `seq` columns an INSERT draws from.
GRANT SELECT ON ALL TABLES IN SCHEMA public TO genesis_agent, genesis_jobs, genesis_admin;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO genesis_agent, genesis_jobs, genesis_admin;
-- schema_migrations is the owner's: readable (to tell the schema version), never written by these roles.

-- The ledgers (0002 approvals, 0003 payments): appended, never changed.
SELECT genesis_grant(t, 'INSERT', r)
FROM unnest(ARRAY['approval_chain', 'payment_events', 'finance_entries']) AS t,
     unnest(ARRAY['genesis_agent', 'genesis_admin']) AS r;
SELECT genesis_protect_ledger(t) FROM unnest(ARRAY['approval_chain', 'payment_events', 'finance_entries']) AS t;

-- What appending needs beside the ledgers: the chain's one-row head (locked FOR UPDATE, updated with
-- each append), the policies first used (INSERT … ON CONFLICT DO NOTHING), the buyer's authorizations.
SELECT genesis_grant('approval_chain_head', 'UPDATE', r) FROM unnest(ARRAY['genesis_agent', 'genesis_admin']) AS r;
SELECT genesis_grant('approval_policies', 'INSERT', r) FROM unnest(ARRAY['genesis_agent', 'genesis_admin']) AS r;
SELECT genesis_grant('payment_authorizations', 'INSERT, UPDATE', r)
FROM unnest(ARRAY['genesis_agent', 'genesis_admin']) AS r;

-- The jobs' own state and output.
SELECT genesis_grant(t, 'INSERT, UPDATE', 'genesis_jobs') FROM unnest(ARRAY['alert_state', 'job_checkpoints']) AS t;
SELECT genesis_grant(t, 'INSERT, UPDATE, DELETE', 'genesis_admin') FROM unnest(ARRAY['alert_state', 'job_checkpoints']) AS t;
SELECT genesis_grant('spend_summaries', 'INSERT', r) FROM unnest(ARRAY['genesis_jobs', 'genesis_admin']) AS r;

-- Tables a later migration creates (as the same owner): readable by our roles, writable by none
-- until that migration grants it (and calls genesis_protect_ledger for a new ledger).
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO genesis_agent, genesis_jobs, genesis_admin;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO genesis_agent, genesis_jobs, genesis_admin;
