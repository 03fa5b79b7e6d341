"""Four eyes on every money action, keys owned by their principal, closed books that stay closed.

- Idempotency keys belong to the principal that sent them: the key is (principal, operation, key).
- Closing a period closes every earlier one: an entry is refused when any period at or after its
  own is closed.
- Reversal is a fund document (made by one user, approved by another of the bureau that owns the
  original); drafts can be rejected by a checker or withdrawn by their maker; a posted document
  that was reversed says so. A reversing entry posts only with its approved document.
- A warning is acknowledged by someone other than the batch's maker; a blocking finding never.
- Every check run is recorded, one with no findings too, so the latest run decides release.
- A reconciliation exception's resolution is proposed by one user and approved by another who is
  neither the proposer nor the uploader of the file.

Revision ID: 0011_four_eyes
Revises: 0010_account_encryption
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlmodel.sql.sqltypes  # noqa: F401

from alembic import op

revision: str = "0011_four_eyes"
down_revision: str | Sequence[str] | None = "0010_account_encryption"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = r"""
-- Keys are the principal's own.
ALTER TABLE idempotency_record ADD COLUMN principal text NOT NULL DEFAULT '';
ALTER TABLE idempotency_record DROP CONSTRAINT idempotency_record_pkey;
ALTER TABLE idempotency_record ADD PRIMARY KEY (principal, operation, key);
ALTER TABLE idempotency_record ALTER COLUMN principal DROP DEFAULT;

-- Closed means closed: a close of P closes P and everything before it.
CREATE OR REPLACE FUNCTION journal_entry_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE head chain_head%ROWTYPE;
BEGIN
    SELECT * INTO head FROM chain_head FOR UPDATE;
    IF NEW.id <> head.seq + 1 OR NEW.prev_hash <> head.hash THEN
        RAISE EXCEPTION 'journal entry % does not extend the chain at % (%)', NEW.id, head.seq, head.hash
            USING ERRCODE = '40001';
    END IF;
    IF EXISTS (SELECT 1 FROM fiscal_period_close WHERE period >= NEW.period) THEN
        RAISE EXCEPTION 'fiscal period % is closed (the books are closed through %)', NEW.period,
            (SELECT max(period) FROM fiscal_period_close)
            USING ERRCODE = 'P0001', CONSTRAINT = 'period_closed';
    END IF;
    NEW.txid := txid_current();
    UPDATE chain_head SET seq = NEW.id, hash = NEW.hash;
    RETURN NEW;
END $$;

-- Reversal documents, rejection and withdrawal.
ALTER TABLE fund_document DROP CONSTRAINT fund_document_doc_type_check;
ALTER TABLE fund_document ADD CONSTRAINT fund_document_doc_type_check
    CHECK (doc_type IN ('allocation','transfer','reallocation','reversal'));
ALTER TABLE fund_document DROP CONSTRAINT fund_document_status_check;
ALTER TABLE fund_document ADD CONSTRAINT fund_document_status_check
    CHECK (status IN ('draft','posted','rejected','withdrawn','reversed'));
ALTER TABLE fund_document
    ADD COLUMN reverses_document_id bigint REFERENCES fund_document(id),
    ADD COLUMN reason text,
    ADD COLUMN reversed_by_document_id bigint REFERENCES fund_document(id),
    ADD COLUMN decided_by bigint REFERENCES app_user(id),
    ADD COLUMN decided_at timestamptz,
    ADD COLUMN decision_reason text;
ALTER TABLE fund_document ADD CONSTRAINT fund_document_reversal_shape
    CHECK ((doc_type = 'reversal') = (reverses_document_id IS NOT NULL)
           AND (doc_type <> 'reversal' OR length(btrim(reason)) >= 2));
ALTER TABLE fund_document DROP CONSTRAINT fund_document_maker_checker;
ALTER TABLE fund_document ADD CONSTRAINT fund_document_maker_checker CHECK (
    status = 'draft'
    OR (status = 'rejected' AND decided_by IS NOT NULL AND decided_by <> created_by
        AND length(btrim(decision_reason)) >= 2)
    OR (status = 'withdrawn' AND decided_by = created_by AND length(btrim(decision_reason)) >= 2)
    OR (status IN ('posted','reversed') AND approved_by IS NOT NULL AND approved_by <> created_by
        AND approved_at IS NOT NULL AND entry_id IS NOT NULL
        AND (doc_type <> 'reallocation' OR second_entry_id IS NOT NULL)));
ALTER TABLE fund_document ADD CONSTRAINT fund_document_reversed_link
    CHECK ((status = 'reversed') = (reversed_by_document_id IS NOT NULL));
CREATE UNIQUE INDEX fund_document_one_reversal ON fund_document (reverses_document_id)
    WHERE doc_type = 'reversal' AND status IN ('draft','posted');

CREATE OR REPLACE FUNCTION fund_document_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT ((OLD.status = 'draft' AND NEW.status IN ('posted','rejected','withdrawn'))
            OR (OLD.status = 'posted' AND NEW.status = 'reversed')) THEN
        RAISE EXCEPTION 'document % cannot move from % to %', OLD.id, OLD.status, NEW.status
            USING ERRCODE = '23514', CONSTRAINT = 'fund_document_transition';
    END IF;
    IF (NEW.doc_type, NEW.number, NEW.bureau_id, NEW.jurisdiction_code, NEW.to_jurisdiction,
        NEW.fund_code, NEW.to_fund_code, NEW.fiscal_year, NEW.effective_date, NEW.amount_fen,
        NEW.memo, NEW.created_by, NEW.created_at, NEW.reverses_document_id, NEW.reason)
       IS DISTINCT FROM
       (OLD.doc_type, OLD.number, OLD.bureau_id, OLD.jurisdiction_code, OLD.to_jurisdiction,
        OLD.fund_code, OLD.to_fund_code, OLD.fiscal_year, OLD.effective_date, OLD.amount_fen,
        OLD.memo, OLD.created_by, OLD.created_at, OLD.reverses_document_id, OLD.reason) THEN
        RAISE EXCEPTION 'document % cannot change what it says', OLD.id USING ERRCODE = '42501';
    END IF;
    IF OLD.status = 'posted' AND (NEW.approved_by, NEW.approved_at, NEW.entry_id, NEW.second_entry_id)
       IS DISTINCT FROM (OLD.approved_by, OLD.approved_at, OLD.entry_id, OLD.second_entry_id) THEN
        RAISE EXCEPTION 'document % was posted: its approval stands', OLD.id USING ERRCODE = '42501';
    END IF;
    IF NEW.status = 'reversed' AND NOT EXISTS (
        SELECT 1 FROM fund_document r WHERE r.id = NEW.reversed_by_document_id
           AND r.doc_type = 'reversal' AND r.reverses_document_id = NEW.id AND r.status = 'posted') THEN
        RAISE EXCEPTION 'document % is reversed only by its posted reversal document', OLD.id
            USING ERRCODE = '23514', CONSTRAINT = 'fund_document_transition';
    END IF;
    IF NEW.status IN ('posted','rejected')
       AND (SELECT bureau_id FROM app_user WHERE id = COALESCE(NEW.approved_by, NEW.decided_by))
           IS DISTINCT FROM NEW.bureau_id THEN
        RAISE EXCEPTION 'document % must be decided by a user of its issuing bureau', OLD.id
            USING ERRCODE = '23514', CONSTRAINT = 'fund_document_maker_checker';
    END IF;
    RETURN NEW;
END $$;

-- A reversing entry stands only with its reversal document, approved by someone other than its
-- maker and pointing at this entry (checked at commit, when the document has been posted).
CREATE FUNCTION journal_entry_reversal_approved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM fund_document d
         WHERE d.doc_type = 'reversal' AND d.id::text = NEW.document_id
           AND d.status = 'posted' AND d.approved_by IS NOT NULL AND d.approved_by <> d.created_by
           AND NEW.id IN (d.entry_id, d.second_entry_id)) THEN
        RAISE EXCEPTION 'reversing entry % has no approved reversal document', NEW.id
            USING ERRCODE = '23514', CONSTRAINT = 'reversal_maker_checker';
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER journal_entry_reversal_approved AFTER INSERT ON journal_entry
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.kind = 'reversal')
    EXECUTE FUNCTION journal_entry_reversal_approved();

-- Warnings: acknowledged by someone other than the batch's maker; blocking findings never.
ALTER TABLE finding ADD CONSTRAINT finding_blocking_not_acknowledged
    CHECK (severity <> 'blocking' OR acknowledged_by IS NULL) NOT VALID;
CREATE FUNCTION finding_ack_four_eyes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.acknowledged_by IS NOT NULL AND NEW.batch_id IS NOT NULL AND NEW.acknowledged_by =
       (SELECT created_by FROM payment_batch WHERE id = NEW.batch_id) THEN
        RAISE EXCEPTION 'finding %: the maker of batch % cannot acknowledge its warnings',
            NEW.id, NEW.batch_id USING ERRCODE = '23514', CONSTRAINT = 'finding_ack_maker_checker';
    END IF;
    IF TG_OP = 'UPDATE' AND OLD.acknowledged_by IS NOT NULL
       AND (NEW.acknowledged_by, NEW.ack_reason) IS DISTINCT FROM (OLD.acknowledged_by, OLD.ack_reason) THEN
        RAISE EXCEPTION 'finding % was acknowledged: that stands', NEW.id USING ERRCODE = '42501';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER finding_ack_four_eyes BEFORE INSERT OR UPDATE ON finding
    FOR EACH ROW EXECUTE FUNCTION finding_ack_four_eyes();

CREATE TABLE check_run (
    id          bigserial PRIMARY KEY,
    run_id      text NOT NULL UNIQUE,
    batch_id    bigint NOT NULL REFERENCES payment_batch(id),
    ran_by      text NOT NULL,
    ran_at      timestamptz NOT NULL DEFAULT now(),
    findings    integer NOT NULL CHECK (findings >= 0),
    blocking    integer NOT NULL CHECK (blocking >= 0)
);
COMMENT ON TABLE check_run IS 'Every pre-release check run of a batch; the latest decides release';
CREATE INDEX check_run_batch_idx ON check_run (batch_id, id);
CREATE TRIGGER check_run_append_only BEFORE UPDATE OR DELETE ON check_run
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
INSERT INTO check_run (run_id, batch_id, ran_by, ran_at, findings, blocking)
SELECT run_id, min(batch_id), 'migration', min(created_at), count(*),
       count(*) FILTER (WHERE severity = 'blocking')
  FROM finding WHERE batch_id IS NOT NULL AND run_id IS NOT NULL GROUP BY run_id ORDER BY min(id);

-- Exception resolution: proposed by one, approved by another (neither the uploader).
ALTER TABLE recon_exception
    ADD COLUMN proposed_action text CHECK (proposed_action IN ('match','refer','write_off')),
    ADD COLUMN proposed_payout_id bigint REFERENCES payout(id),
    ADD COLUMN proposed_reason text,
    ADD COLUMN proposed_by text,
    ADD COLUMN proposed_at timestamptz;
ALTER TABLE recon_exception ADD CONSTRAINT recon_exception_proposal_shape
    CHECK ((proposed_by IS NULL) = (proposed_action IS NULL)
           AND (proposed_by IS NULL) = (proposed_at IS NULL)) NOT VALID;
ALTER TABLE recon_exception ADD CONSTRAINT recon_exception_maker_checker
    CHECK (resolved_by IS NULL OR (proposed_by IS NOT NULL AND resolved_by <> proposed_by)) NOT VALID;
CREATE FUNCTION recon_exception_four_eyes() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE uploader text;
BEGIN
    SELECT uploaded_by INTO uploader FROM bank_file WHERE id = NEW.bank_file_id;
    IF NEW.resolved_by IS NOT NULL AND OLD.resolved_by IS NULL
       AND (NEW.resolved_by = uploader OR NEW.resolved_by = NEW.proposed_by) THEN
        RAISE EXCEPTION 'exception %: the approver must be neither the proposer nor the uploader', NEW.id
            USING ERRCODE = '23514', CONSTRAINT = 'recon_exception_maker_checker';
    END IF;
    IF NEW.resolved_by IS NOT NULL AND OLD.resolved_by IS NULL
       AND (NEW.status, NEW.matched_payout_id) IS DISTINCT FROM
           (CASE OLD.proposed_action WHEN 'match' THEN 'matched' WHEN 'refer' THEN 'referred'
                 WHEN 'write_off' THEN 'written_off' END,
            CASE WHEN OLD.proposed_action = 'match' THEN OLD.proposed_payout_id END) THEN
        RAISE EXCEPTION 'exception %: the approval must be of the proposal as made', NEW.id
            USING ERRCODE = '23514', CONSTRAINT = 'recon_exception_maker_checker';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER recon_exception_four_eyes BEFORE UPDATE ON recon_exception
    FOR EACH ROW EXECUTE FUNCTION recon_exception_four_eyes();
"""

DOWNGRADE = r"""
DROP TRIGGER recon_exception_four_eyes ON recon_exception;
DROP FUNCTION recon_exception_four_eyes();
ALTER TABLE recon_exception DROP CONSTRAINT recon_exception_maker_checker,
    DROP CONSTRAINT recon_exception_proposal_shape,
    DROP COLUMN proposed_action, DROP COLUMN proposed_payout_id, DROP COLUMN proposed_reason,
    DROP COLUMN proposed_by, DROP COLUMN proposed_at;
DROP TABLE check_run;
DROP TRIGGER finding_ack_four_eyes ON finding;
DROP FUNCTION finding_ack_four_eyes();
ALTER TABLE finding DROP CONSTRAINT finding_blocking_not_acknowledged;
DROP TRIGGER journal_entry_reversal_approved ON journal_entry;
DROP FUNCTION journal_entry_reversal_approved();
DROP INDEX fund_document_one_reversal;
ALTER TABLE fund_document DROP CONSTRAINT fund_document_reversed_link,
    DROP CONSTRAINT fund_document_maker_checker, DROP CONSTRAINT fund_document_reversal_shape;
ALTER TABLE fund_document DROP COLUMN reverses_document_id, DROP COLUMN reason,
    DROP COLUMN reversed_by_document_id, DROP COLUMN decided_by, DROP COLUMN decided_at,
    DROP COLUMN decision_reason;
ALTER TABLE fund_document DROP CONSTRAINT fund_document_status_check;
ALTER TABLE fund_document ADD CONSTRAINT fund_document_status_check
    CHECK (status IN ('draft','posted'));
ALTER TABLE fund_document DROP CONSTRAINT fund_document_doc_type_check;
ALTER TABLE fund_document ADD CONSTRAINT fund_document_doc_type_check
    CHECK (doc_type IN ('allocation','transfer','reallocation'));
ALTER TABLE fund_document ADD CONSTRAINT fund_document_maker_checker CHECK (status = 'draft' OR (
    approved_by IS NOT NULL AND approved_by <> created_by AND approved_at IS NOT NULL
    AND entry_id IS NOT NULL AND (doc_type <> 'reallocation' OR second_entry_id IS NOT NULL)));
CREATE OR REPLACE FUNCTION fund_document_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status <> 'draft' OR NEW.status <> 'posted' THEN
        RAISE EXCEPTION 'document % cannot move from % to %', OLD.id, OLD.status, NEW.status
            USING ERRCODE = '23514', CONSTRAINT = 'fund_document_transition';
    END IF;
    IF (NEW.doc_type, NEW.number, NEW.bureau_id, NEW.jurisdiction_code, NEW.to_jurisdiction,
        NEW.fund_code, NEW.to_fund_code, NEW.fiscal_year, NEW.effective_date, NEW.amount_fen,
        NEW.memo, NEW.created_by, NEW.created_at)
       IS DISTINCT FROM
       (OLD.doc_type, OLD.number, OLD.bureau_id, OLD.jurisdiction_code, OLD.to_jurisdiction,
        OLD.fund_code, OLD.to_fund_code, OLD.fiscal_year, OLD.effective_date, OLD.amount_fen,
        OLD.memo, OLD.created_by, OLD.created_at) THEN
        RAISE EXCEPTION 'document % cannot change what it says', OLD.id USING ERRCODE = '42501';
    END IF;
    IF (SELECT bureau_id FROM app_user WHERE id = NEW.approved_by) IS DISTINCT FROM NEW.bureau_id THEN
        RAISE EXCEPTION 'document % must be approved by a user of its issuing bureau', OLD.id
            USING ERRCODE = '23514', CONSTRAINT = 'fund_document_maker_checker';
    END IF;
    RETURN NEW;
END $$;
CREATE OR REPLACE FUNCTION journal_entry_chain() RETURNS trigger LANGUAGE plpgsql AS $$
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
DELETE FROM idempotency_record a USING idempotency_record b
 WHERE a.key = b.key AND (a.principal, a.operation) > (b.principal, b.operation);
ALTER TABLE idempotency_record DROP CONSTRAINT idempotency_record_pkey;
ALTER TABLE idempotency_record DROP COLUMN principal;
ALTER TABLE idempotency_record ADD PRIMARY KEY (key);
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
