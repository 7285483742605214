-- The payment side of §2 in PostgreSQL (§12): the same records as the JSONL files, in file order.
-- `seq` is the file order: appends to one ledger take a transaction-level advisory lock before
-- their INSERT, so sequence order is commit order and a reader's high-water mark never skips a row
-- that commits later. `line` is the record exactly as its JSONL line (what `export` writes back);
-- the typed columns beside it are what the jobs read (money as integer micro-USDC).

CREATE TABLE payment_events (
    seq             bigserial PRIMARY KEY,
    event_id        text NOT NULL UNIQUE,
    ts              timestamptz NOT NULL,
    payment_id      text NOT NULL,
    status          text NOT NULL CHECK (status IN
                        ('authorized', 'captured', 'cancelled', 'expired', 'failed', 'settlement_pending')),
    agent           text NOT NULL,
    vendor          text NOT NULL,
    chain           text NOT NULL,
    token           text NOT NULL,
    amount_micro    bigint NOT NULL CHECK (amount_micro BETWEEN 0 AND 1000000000000000),
    business_id     text,
    intent_id       text,
    idempotency_key text,
    tx_hash         text,
    valid_before    timestamptz,
    error           text,
    line            text NOT NULL
);
CREATE INDEX payment_events_payment ON payment_events (payment_id, seq);

CREATE TABLE finance_entries (
    seq          bigserial PRIMARY KEY,
    entry_id     text NOT NULL UNIQUE,
    ts           timestamptz NOT NULL,
    payment_id   text NOT NULL,
    agent        text NOT NULL,
    vendor       text NOT NULL,
    amount_micro bigint NOT NULL CHECK (amount_micro BETWEEN 0 AND 1000000000000000),
    kind         text NOT NULL CHECK (kind IN ('debit', 'refund')),
    line         text NOT NULL
);
CREATE INDEX finance_entries_payment ON finance_entries (payment_id, seq);

CREATE TABLE spend_summaries (
    seq         bigserial PRIMARY KEY,
    business_id text NOT NULL,
    ts          timestamptz NOT NULL,
    line        text NOT NULL,
    UNIQUE (business_id, ts)
);

-- The buyer's private record of each payment (payments/store.py). The signed authorization, a
-- bearer instrument until valid_before, is only ever stored encrypted (`payload`, Fernet), with the
-- key on the buyer hosts; the database never sees it in clear.
CREATE TABLE payment_authorizations (
    payment_id      text PRIMARY KEY,
    idempotency_key text NOT NULL,
    intent_id       text NOT NULL,
    status          text NOT NULL,
    record          jsonb NOT NULL,
    payload         bytea,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
-- A payment is `signed` from its first save until its `authorized` event is announced; a buyer killed
-- in between leaves a signature nobody was given (as the files store leaves an unindexed file), and
-- the retry signs anew. From `authorized` on, an idempotency key names one payment.
CREATE UNIQUE INDEX one_payment_per_key ON payment_authorizations (idempotency_key) WHERE status <> 'signed';
-- One approval, one payment: at most one live or captured payment per approved intent (a failed,
-- cancelled or expired one frees the approval; so does a signature never logged as `authorized`).
CREATE UNIQUE INDEX one_payment_per_approval ON payment_authorizations (intent_id)
    WHERE status IN ('authorized', 'settlement_pending', 'captured');

-- When an alert was last sent and what it said (jobs/alert_state.py).
CREATE TABLE alert_state (
    key         text PRIMARY KEY,
    fingerprint text NOT NULL,
    sent_at     timestamptz NOT NULL
);

-- A job's checkpoint (ledgers/checkpoints.py): the same Arrow IPC body as the file, whose positions
-- are sequence high-water marks instead of byte offsets. Replaced whole in one transaction.
CREATE TABLE job_checkpoints (
    reader   text PRIMARY KEY,
    body     bytea NOT NULL,
    saved_at timestamptz NOT NULL DEFAULT now()
);
