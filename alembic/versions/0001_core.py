"""The books: jurisdictions, funds, accounts, the hash-chained journal, access and the payout subledger.

Revision ID: 0001_core
Revises:
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlmodel.sql.sqltypes  # noqa: F401
from alembic import op

revision: str = "0001_core"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACCOUNT_KINDS = (
    "special_cash",
    "in_transit",
    "suspense",
    "appropriation_revenue",
    "transfer_in",
    "transfer_out",
    "benefit_expense",
)

UPGRADE = r"""
CREATE TABLE jurisdiction (
    code        char(6) PRIMARY KEY CHECK (code ~ '^[0-9]{6}$'),
    name        text NOT NULL,
    parent_code char(6) REFERENCES jurisdiction(code),
    level       smallint NOT NULL CHECK (level BETWEEN 0 AND 3),
    pays_directly boolean NOT NULL DEFAULT false,
    CHECK ((level = 0) = (parent_code IS NULL))
);
COMMENT ON TABLE jurisdiction IS 'GB/T 2260 divisions: 000000 central, 440000 province, cities, counties';

CREATE TABLE fund (
    code                 text PRIMARY KEY CHECK (code ~ '^[a-z_]+$'),
    name                 text NOT NULL,
    budget_function_code char(7) NOT NULL UNIQUE CHECK (budget_function_code ~ '^[0-9]{7}$')
);

CREATE TABLE account (
    id                bigserial PRIMARY KEY,
    jurisdiction_code char(6) NOT NULL REFERENCES jurisdiction(code),
    fund_code         text NOT NULL REFERENCES fund(code),
    kind              text NOT NULL CHECK (kind IN ('special_cash','in_transit','suspense',
                        'appropriation_revenue','transfer_in','transfer_out','benefit_expense')),
    -- Debit-positive running balance, maintained only by the posting trigger.
    balance_fen       bigint NOT NULL DEFAULT 0,
    CONSTRAINT account_unique UNIQUE (jurisdiction_code, fund_code, kind),
    CONSTRAINT special_cash_not_negative CHECK (kind <> 'special_cash' OR balance_fen >= 0)
);

CREATE TABLE fiscal_period_close (
    period    char(6) PRIMARY KEY CHECK (period ~ '^[0-9]{4}(0[1-9]|1[0-2])$'),
    closed_at timestamptz NOT NULL DEFAULT now(),
    closed_by text NOT NULL
);
COMMENT ON TABLE fiscal_period_close IS 'A row closes its period: no entry may post into it';

CREATE TABLE chain_head (
    id   boolean PRIMARY KEY DEFAULT true CHECK (id),
    seq  bigint NOT NULL,
    hash char(64) NOT NULL
);
INSERT INTO chain_head VALUES (true, 0, repeat('0', 64));

CREATE TABLE journal_entry (
    id              bigint PRIMARY KEY,
    kind            text NOT NULL,
    memo            text NOT NULL DEFAULT '',
    effective_date  date NOT NULL,
    period          char(6) NOT NULL CHECK (period = to_char(effective_date, 'YYYYMM')),
    document_type   text,
    document_id     text,
    reverses_id     bigint UNIQUE REFERENCES journal_entry(id),
    payload_digest  char(64),
    created_by      text NOT NULL,
    created_at      timestamptz NOT NULL,
    prev_hash       char(64) NOT NULL,
    hash            char(64) NOT NULL UNIQUE,
    txid            bigint NOT NULL DEFAULT txid_current()
);
COMMENT ON COLUMN journal_entry.reverses_id IS 'Unique: an entry can be reversed once';

CREATE TABLE posting (
    id         bigserial PRIMARY KEY,
    entry_id   bigint NOT NULL REFERENCES journal_entry(id),
    account_id bigint NOT NULL REFERENCES account(id),
    side       char(1) NOT NULL CHECK (side IN ('D','C')),
    amount_fen bigint NOT NULL CHECK (amount_fen > 0)
);
CREATE INDEX posting_entry_idx ON posting(entry_id);
CREATE INDEX posting_account_idx ON posting(account_id, entry_id);

CREATE TABLE idempotency_record (
    key          text PRIMARY KEY CHECK (length(key) BETWEEN 1 AND 200),
    operation    text NOT NULL,
    request_hash char(64) NOT NULL,
    status_code  integer,
    response     jsonb,
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- The chain: ids are gapless, each entry names the previous hash, the head advances in the database.
CREATE FUNCTION journal_entry_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE head chain_head%ROWTYPE;
BEGIN
    SELECT * INTO head FROM chain_head FOR UPDATE;
    IF NEW.id <> head.seq + 1 OR NEW.prev_hash <> head.hash THEN
        RAISE EXCEPTION 'journal entry % does not extend the chain at % (%)', NEW.id, head.seq, head.hash
            USING ERRCODE = '40001';
    END IF;
    IF EXISTS (SELECT 1 FROM fiscal_period_close WHERE period = NEW.period) THEN
        RAISE EXCEPTION 'fiscal period % is closed', NEW.period USING ERRCODE = 'P0001',
            CONSTRAINT = 'period_closed';
    END IF;
    NEW.txid := txid_current();
    UPDATE chain_head SET seq = NEW.id, hash = NEW.hash;
    RETURN NEW;
END $$;
CREATE TRIGGER journal_entry_chain BEFORE INSERT ON journal_entry
    FOR EACH ROW EXECUTE FUNCTION journal_entry_chain();

-- Postings may only join an entry written in the same transaction, and move the account balance.
CREATE FUNCTION posting_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT txid FROM journal_entry WHERE id = NEW.entry_id) <> txid_current() THEN
        RAISE EXCEPTION 'posting % joins entry % of another transaction', NEW.id, NEW.entry_id;
    END IF;
    UPDATE account
       SET balance_fen = balance_fen + CASE NEW.side WHEN 'D' THEN NEW.amount_fen ELSE -NEW.amount_fen END
     WHERE id = NEW.account_id;
    RETURN NEW;
END $$;
CREATE TRIGGER posting_apply AFTER INSERT ON posting
    FOR EACH ROW EXECUTE FUNCTION posting_apply();

-- 专款专用: every entry balances per (jurisdiction, fund), checked once per entry at commit.
CREATE FUNCTION journal_entry_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE bad record; n integer;
BEGIN
    SELECT count(*) INTO n FROM posting WHERE entry_id = NEW.id;
    IF n < 2 THEN
        RAISE EXCEPTION 'journal entry % has % postings; at least two are required', NEW.id, n
            USING ERRCODE = '23514', CONSTRAINT = 'entry_balanced';
    END IF;
    SELECT a.jurisdiction_code, a.fund_code,
           sum(CASE p.side WHEN 'D' THEN p.amount_fen ELSE -p.amount_fen END) AS diff
      INTO bad
      FROM posting p JOIN account a ON a.id = p.account_id
     WHERE p.entry_id = NEW.id
     GROUP BY a.jurisdiction_code, a.fund_code
    HAVING sum(CASE p.side WHEN 'D' THEN p.amount_fen ELSE -p.amount_fen END) <> 0
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'journal entry % does not balance for jurisdiction % fund % (debits - credits = %)',
            NEW.id, bad.jurisdiction_code, bad.fund_code, bad.diff
            USING ERRCODE = '23514', CONSTRAINT = 'entry_balanced';
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER journal_entry_balanced AFTER INSERT ON journal_entry
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION journal_entry_balanced();

-- Append-only tables refuse UPDATE, DELETE and TRUNCATE for every role.
CREATE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = '42501', HINT = 'Correct with a reversing entry that references the original.';
END $$;
CREATE TRIGGER journal_entry_append_only BEFORE UPDATE OR DELETE ON journal_entry
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER journal_entry_no_truncate BEFORE TRUNCATE ON journal_entry
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
CREATE TRIGGER posting_append_only BEFORE UPDATE OR DELETE ON posting
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER posting_no_truncate BEFORE TRUNCATE ON posting
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
CREATE TRIGGER fiscal_period_close_append_only BEFORE UPDATE OR DELETE ON fiscal_period_close
    FOR EACH ROW EXECUTE FUNCTION refuse_change();

-- Access: bureaus of one jurisdiction, users with one role, hashed tokens.
CREATE TABLE bank (
    code text PRIMARY KEY CHECK (code ~ '^[A-Z0-9]{2,12}$'),
    name text NOT NULL
);
CREATE TABLE bureau (
    id                bigserial PRIMARY KEY,
    jurisdiction_code char(6) NOT NULL REFERENCES jurisdiction(code),
    kind              text NOT NULL CHECK (kind IN ('finance','civil_affairs','bank','audit','admin')),
    name              text NOT NULL,
    bank_code         text REFERENCES bank(code),
    CHECK ((kind = 'bank') = (bank_code IS NOT NULL)),
    UNIQUE (jurisdiction_code, kind, name)
);
CREATE TABLE bank_service_area (
    bank_code   text NOT NULL REFERENCES bank(code),
    county_code char(6) NOT NULL REFERENCES jurisdiction(code),
    PRIMARY KEY (bank_code, county_code)
);
CREATE TABLE app_user (
    id           bigserial PRIMARY KEY,
    username     text NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9_.-]{2,64}$'),
    display_name text NOT NULL,
    bureau_id    bigint NOT NULL REFERENCES bureau(id),
    role         text NOT NULL CHECK (role IN ('finance','civil_affairs','bank','auditor','admin')),
    active       boolean NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE api_token (
    id          bigserial PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES app_user(id),
    token_hash  char(64) NOT NULL UNIQUE,
    label       text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);

CREATE TABLE audit_log (
    id           bigserial PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT now(),
    user_id      bigint,
    username     text,
    bureau_id    bigint,
    role         text,
    action       text NOT NULL,
    object_type  text,
    object_id    text,
    request_id   text,
    client_addr  text,
    outcome      text NOT NULL CHECK (outcome IN ('accepted','refused','failed')),
    status_code  integer,
    detail       jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_log_at_idx ON audit_log(at);
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

-- The payout subledger: one row per person per attempt.
CREATE TABLE payment_batch (
    id            bigserial PRIMARY KEY,
    county_code   char(6) NOT NULL REFERENCES jurisdiction(code),
    fund_code     text NOT NULL REFERENCES fund(code),
    period        char(6) NOT NULL CHECK (period ~ '^[0-9]{4}(0[1-9]|1[0-2])$'),
    bank_code     text NOT NULL REFERENCES bank(code),
    status        text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft','released','cancelled')),
    line_count    integer NOT NULL DEFAULT 0,
    total_fen     bigint NOT NULL DEFAULT 0 CHECK (total_fen >= 0),
    merkle_root   char(64),
    release_entry_id bigint REFERENCES journal_entry(id),
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    released_by   text,
    released_at   timestamptz,
    CHECK (status <> 'released' OR (release_entry_id IS NOT NULL AND merkle_root IS NOT NULL
                                     AND released_by IS NOT NULL AND released_by <> created_by))
);
CREATE TABLE payout (
    id             bigserial PRIMARY KEY,
    batch_id       bigint NOT NULL REFERENCES payment_batch(id),
    seq            integer NOT NULL CHECK (seq > 0),
    reference      varchar(12) NOT NULL UNIQUE CHECK (reference ~ '^[A-Z0-9]{1,12}$'),
    county_code    char(6) NOT NULL REFERENCES jurisdiction(code),
    fund_code      text NOT NULL REFERENCES fund(code),
    period         char(6) NOT NULL,
    person_key     char(64) NOT NULL,
    household_id   text NOT NULL,
    household_size smallint NOT NULL DEFAULT 1 CHECK (household_size > 0),
    township       text NOT NULL DEFAULT '',
    village        text NOT NULL DEFAULT '',
    payee_name     text NOT NULL,
    account_no     text NOT NULL,
    account_name   text NOT NULL,
    bank_code      text NOT NULL REFERENCES bank(code),
    amount_fen     bigint NOT NULL CHECK (amount_fen > 0),
    state          text NOT NULL DEFAULT 'draft'
                   CHECK (state IN ('draft','sent','paid','failed','returned','reissued','cancelled')),
    reissue_of     bigint UNIQUE REFERENCES payout(id),
    last_entry_id  bigint REFERENCES journal_entry(id),
    reason_code    text,
    raw_code       text,
    raw_text       text,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (batch_id, seq)
);
COMMENT ON COLUMN payout.person_key IS 'Keyed hash of the ID number: matches a person without revealing them';
-- A person is never paid twice for one fund and period: one live attempt at most.
CREATE UNIQUE INDEX payout_one_live_attempt ON payout (person_key, fund_code, period)
    WHERE state IN ('draft','sent','paid');
CREATE INDEX payout_batch_state_idx ON payout (batch_id, state);
CREATE INDEX payout_county_fund_state_idx ON payout (county_code, fund_code, state);

-- Every transition is kept: the payout row is the current view, payout_event its history.
CREATE TABLE payout_event (
    id          bigserial PRIMARY KEY,
    payout_id   bigint NOT NULL REFERENCES payout(id),
    from_state  text,
    to_state    text NOT NULL,
    entry_id    bigint REFERENCES journal_entry(id),
    source      text,
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payout_event_payout_idx ON payout_event(payout_id);
CREATE TRIGGER payout_event_append_only BEFORE UPDATE OR DELETE ON payout_event
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER payout_event_no_truncate BEFORE TRUNCATE ON payout_event
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

-- Set-based guards (statement triggers with transition tables keep million-row paths fast):
-- states move only along the allowed transitions, a released line never changes, and every
-- change lands in payout_event. The source is what the service sets in ledger.source.
CREATE FUNCTION payout_guard_update() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE bad record;
BEGIN
    SELECT o.id, o.state AS old_state, n.state AS new_state INTO bad
      FROM old_payout o JOIN new_payout n USING (id)
     WHERE n.state <> o.state AND NOT (
            (o.state = 'draft' AND n.state IN ('sent','cancelled')) OR
            (o.state = 'sent' AND n.state IN ('paid','failed')) OR
            (o.state = 'paid' AND n.state = 'returned') OR
            (o.state IN ('failed','returned') AND n.state = 'reissued'))
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'payout % cannot move from % to %', bad.id, bad.old_state, bad.new_state
            USING ERRCODE = '23514', CONSTRAINT = 'payout_transition';
    END IF;
    SELECT o.id INTO bad
      FROM old_payout o JOIN new_payout n USING (id)
     WHERE o.state <> 'draft' AND
           (n.amount_fen, n.account_no, n.account_name, n.payee_name, n.reference, n.person_key,
            n.batch_id, n.seq, n.county_code, n.fund_code, n.period)
           IS DISTINCT FROM
           (o.amount_fen, o.account_no, o.account_name, o.payee_name, o.reference, o.person_key,
            o.batch_id, o.seq, o.county_code, o.fund_code, o.period)
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'payout % was released: its line cannot change', bad.id
            USING ERRCODE = '42501';
    END IF;
    INSERT INTO payout_event (payout_id, from_state, to_state, entry_id, source)
    SELECT n.id, o.state, n.state, n.last_entry_id, current_setting('ledger.source', true)
      FROM old_payout o JOIN new_payout n USING (id)
     WHERE n.state <> o.state;
    RETURN NULL;
END $$;
CREATE TRIGGER payout_guard_update AFTER UPDATE ON payout
    REFERENCING OLD TABLE AS old_payout NEW TABLE AS new_payout
    FOR EACH STATEMENT EXECUTE FUNCTION payout_guard_update();

CREATE FUNCTION payout_guard_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM new_payout WHERE state <> 'draft') THEN
        RAISE EXCEPTION 'payouts are created as draft' USING ERRCODE = '23514';
    END IF;
    INSERT INTO payout_event (payout_id, from_state, to_state, entry_id, source)
    SELECT id, NULL, state, last_entry_id, current_setting('ledger.source', true) FROM new_payout;
    RETURN NULL;
END $$;
CREATE TRIGGER payout_guard_insert AFTER INSERT ON payout
    REFERENCING NEW TABLE AS new_payout
    FOR EACH STATEMENT EXECUTE FUNCTION payout_guard_insert();
CREATE TRIGGER payout_no_delete BEFORE DELETE ON payout
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER payout_no_truncate BEFORE TRUNCATE ON payout
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

-- Audit findings: a named rule, its severity, the evidence and a plain-Chinese message. Batch
-- checks store theirs with the batch; a warning on a batch needs an acknowledgement with a reason.
CREATE TABLE finding (
    id                bigserial PRIMARY KEY,
    rule              text NOT NULL,
    severity          text NOT NULL CHECK (severity IN ('blocking','warning','info')),
    jurisdiction_code char(6) NOT NULL REFERENCES jurisdiction(code),
    fund_code         text REFERENCES fund(code),
    period            char(6),
    batch_id          bigint REFERENCES payment_batch(id),
    message           text NOT NULL,
    evidence          jsonb NOT NULL DEFAULT '{}'::jsonb,
    run_id            text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    acknowledged_by   text,
    acknowledged_at   timestamptz,
    ack_reason        text,
    CHECK ((acknowledged_by IS NULL) = (ack_reason IS NULL))
);
CREATE INDEX finding_scope_idx ON finding (jurisdiction_code, period);
CREATE INDEX finding_batch_idx ON finding (batch_id);
"""

DOWNGRADE = r"""
DROP TABLE finding, payout_event, payout, payment_batch, audit_log, api_token, app_user, bank_service_area,
    bureau, bank, idempotency_record, posting, journal_entry, chain_head, fiscal_period_close,
    account, fund, jurisdiction CASCADE;
DROP FUNCTION payout_guard_update(), payout_guard_insert(), refuse_change(), journal_entry_balanced(), posting_apply(),
    journal_entry_chain();
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
