"""Reconciliation: bank files as received and the exceptions queue.

Revision ID: 0004_reconciliation
Revises: 0001_core
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlmodel.sql.sqltypes  # noqa: F401

from alembic import op

revision: str = "0004_reconciliation"
down_revision: str | Sequence[str] | None = "0001_core"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = r"""
-- The payout guard joins its OLD and NEW transition tables, which carry no statistics: the
-- planner picks a nested loop and a 10,000-row settlement UPDATE takes 36 s instead of 1.7 s.
-- Settlement updates payouts by the million, so the guard plans with hash joins.
ALTER FUNCTION payout_guard_update() SET enable_nestloop = off;

-- A bank file exactly as received. The row is written once, with its results, in the same
-- transaction that applies the file: a file either applied completely or left no row.
CREATE TABLE bank_file (
    id            bigserial PRIMARY KEY,
    sha256        char(64) NOT NULL UNIQUE,
    content       bytea NOT NULL,
    size_bytes    bigint NOT NULL CHECK (size_bytes = length(content)),
    kind          text NOT NULL CHECK (kind IN ('csv_return','pain.002','camt.054','camt.053')),
    bank_code     text NOT NULL REFERENCES bank(code),
    batch_id      bigint REFERENCES payment_batch(id),
    county_code   char(6) REFERENCES jurisdiction(code),
    fund_code     text REFERENCES fund(code),
    filename      text NOT NULL DEFAULT '',
    uploaded_by   text NOT NULL,
    uploaded_at   timestamptz NOT NULL DEFAULT now(),
    status        text NOT NULL CHECK (status IN ('applied','agreed','explained','flagged')),
    line_count    integer NOT NULL DEFAULT 0,
    total_fen     bigint NOT NULL DEFAULT 0,
    counts        jsonb NOT NULL DEFAULT '{}'::jsonb,
    result        jsonb NOT NULL DEFAULT '{}'::jsonb
);
COMMENT ON TABLE bank_file IS 'Return files (回盘, pain.002, camt.054) and statements (camt.053) as received';
CREATE INDEX bank_file_batch_idx ON bank_file (batch_id);
CREATE TRIGGER bank_file_append_only BEFORE UPDATE OR DELETE ON bank_file
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER bank_file_no_truncate BEFORE TRUNCATE ON bank_file
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

-- Lines a file could not settle: unmatched, conflicting, refused, amount mismatch. A person
-- resolves each once; the row keeps the line as the bank wrote it.
CREATE TABLE recon_exception (
    id               bigserial PRIMARY KEY,
    bank_file_id     bigint NOT NULL REFERENCES bank_file(id),
    line_no          integer,
    problem          text NOT NULL CHECK (problem IN
                       ('unmatched','conflict','refused','amount_mismatch')),
    batch_id         bigint REFERENCES payment_batch(id),
    county_code      char(6) REFERENCES jurisdiction(code),
    fund_code        text REFERENCES fund(code),
    payout_id        bigint REFERENCES payout(id),
    suggested_payout_id bigint REFERENCES payout(id),
    payout_state     text,
    reference        text,
    seq              integer,
    account          text,
    name             text,
    amount_fen       bigint,
    outcome          text NOT NULL,
    reason_code      text,
    raw_code         text,
    raw_text         text,
    suspense_fen     bigint NOT NULL DEFAULT 0 CHECK (suspense_fen >= 0),
    entry_id         bigint REFERENCES journal_entry(id),
    status           text NOT NULL DEFAULT 'open'
                       CHECK (status IN ('open','matched','referred','written_off')),
    resolved_by      text,
    resolved_at      timestamptz,
    resolution_reason text,
    resolution_entry_id bigint REFERENCES journal_entry(id),
    matched_payout_id bigint REFERENCES payout(id),
    CHECK ((status = 'open') = (resolved_by IS NULL)),
    CHECK (status = 'open' OR length(btrim(resolution_reason)) > 0)
);
COMMENT ON COLUMN recon_exception.suspense_fen IS 'Money of this line booked to suspense (暂存款) on import';
CREATE INDEX recon_exception_open_idx ON recon_exception (county_code, status);
CREATE INDEX recon_exception_file_idx ON recon_exception (bank_file_id);

-- An exception is resolved once: only open rows change, and only their resolution columns.
CREATE FUNCTION recon_exception_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'recon_exception is kept: DELETE refused' USING ERRCODE = '42501';
    END IF;
    IF OLD.status <> 'open' THEN
        RAISE EXCEPTION 'exception % was already resolved', OLD.id USING ERRCODE = '42501';
    END IF;
    IF (NEW.bank_file_id, NEW.line_no, NEW.problem, NEW.payout_id, NEW.amount_fen, NEW.outcome,
        NEW.suspense_fen, NEW.entry_id, NEW.raw_code, NEW.raw_text, NEW.reference)
       IS DISTINCT FROM
       (OLD.bank_file_id, OLD.line_no, OLD.problem, OLD.payout_id, OLD.amount_fen, OLD.outcome,
        OLD.suspense_fen, OLD.entry_id, OLD.raw_code, OLD.raw_text, OLD.reference) THEN
        RAISE EXCEPTION 'exception %: only the resolution may change', OLD.id USING ERRCODE = '42501';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER recon_exception_guard BEFORE UPDATE OR DELETE ON recon_exception
    FOR EACH ROW EXECUTE FUNCTION recon_exception_guard();
CREATE TRIGGER recon_exception_no_truncate BEFORE TRUNCATE ON recon_exception
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
"""

DOWNGRADE = r"""
DROP TABLE recon_exception, bank_file CASCADE;
DROP FUNCTION recon_exception_guard();
ALTER FUNCTION payout_guard_update() RESET enable_nestloop;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
