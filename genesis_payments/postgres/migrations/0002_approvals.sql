-- The approval side of the PostgreSQL store (§8, §12): the one hash chain of decisions and control
-- records (halt, resume, policy_change), and its head. genesis_payments/postgres/approval_log.py
-- writes it; docs/architecture.md ("The PostgreSQL room") explains it.
--
-- `line` is the record's canonical JSON exactly as the files store writes it (without the newline):
-- the hash is computed over those bytes' record, so `audit verify` and `export` give the same chain.
-- `seq` is the line number (1, 2, …, no gaps): it is assigned from the head row under its lock, never
-- from a SEQUENCE (a rolled-back transaction would leave a hole that looks like a deleted record).
CREATE TABLE approval_chain (
    seq        bigint PRIMARY KEY CHECK (seq >= 1),
    kind       text NOT NULL,  -- 'decision', 'halt', 'resume', 'policy_change' (or one a later version adds)
    intent_id  text,
    decision_id text,
    decision   text CHECK (decision IN ('approved', 'denied', 'pending_review')),
    resolves   text,
    ts         text NOT NULL,
    prev_hash  text NOT NULL CHECK (prev_hash ~ '^[0-9a-f]{64}$'),
    hash       text NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
    line       text NOT NULL,
    CHECK ((kind = 'decision') = (intent_id IS NOT NULL AND decision_id IS NOT NULL AND decision IS NOT NULL))
);

-- Every index here costs each decision its upkeep; these are the ones a rule or a query needs.
-- An intent is decided once: its first decision is the only one without `resolves`; a review's
-- answer (or timeout) resolves one pending decision, once.
CREATE UNIQUE INDEX approval_chain_first_decision ON approval_chain (intent_id) WHERE kind = 'decision' AND resolves IS NULL;
CREATE UNIQUE INDEX approval_chain_resolution ON approval_chain (resolves) WHERE resolves IS NOT NULL;
CREATE UNIQUE INDEX approval_chain_decision_id ON approval_chain (decision_id) WHERE decision_id IS NOT NULL;
CREATE INDEX approval_chain_intent ON approval_chain (intent_id, seq) WHERE intent_id IS NOT NULL;

-- The head: one row, updated in the same transaction as every append. Appenders lock it first
-- (SELECT … FOR UPDATE), so the chain is appended by one transaction at a time across every host.
CREATE TABLE approval_chain_head (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    seq        bigint NOT NULL CHECK (seq >= 0),
    hash       text NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$')
);
INSERT INTO approval_chain_head (singleton, seq, hash) VALUES (true, 0, repeat('0', 64));

-- The chain is append-only: an UPDATE, DELETE or TRUNCATE is refused whoever runs it (an owner
-- who disables the trigger to do it anyway breaks the chain, which `audit verify` then reports).
CREATE FUNCTION approval_chain_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'approval_chain is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER approval_chain_append_only BEFORE UPDATE OR DELETE ON approval_chain
    FOR EACH ROW EXECUTE FUNCTION approval_chain_append_only();
CREATE TRIGGER approval_chain_no_truncate BEFORE TRUNCATE ON approval_chain
    FOR EACH STATEMENT EXECUTE FUNCTION approval_chain_append_only();

-- The effective settings of every policy an agent used, by hash, so that a `policy_change` record
-- written on one host can say what changed from a policy first used on another.
CREATE TABLE approval_policies (
    hash       text PRIMARY KEY,
    settings   text NOT NULL,
    first_seen timestamptz NOT NULL DEFAULT now()
);

-- One round trip for an appender's start: lock the head (waiting for the writer before), then,
-- in a new snapshot that sees that writer's commit, the head and the records after `after` (at
-- most `max_rows`; a reader further behind reads the rest in chunks). The first row is the head.
CREATE FUNCTION approval_chain_lock(after bigint, max_rows integer)
RETURNS TABLE (seq bigint, hash text, line text) LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    head_seq bigint;
    head_hash text;
BEGIN
    SELECT h.seq, h.hash INTO head_seq, head_hash FROM approval_chain_head h FOR UPDATE;
    RETURN QUERY SELECT head_seq, head_hash, NULL::text;
    RETURN QUERY SELECT c.seq, c.hash, c.line FROM approval_chain c
        WHERE c.seq > after AND c.seq <= head_seq ORDER BY c.seq LIMIT max_rows;
END
$$;
