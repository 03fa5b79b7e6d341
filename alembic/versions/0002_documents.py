"""Fund documents: allocations, transfer payments and reallocations with maker-checker.

Revision ID: 0002_documents
Revises: 0001_core
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlmodel.sql.sqltypes  # noqa: F401

from alembic import op

revision: str = "0002_documents"
down_revision: str | Sequence[str] | None = "0001_core"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = r"""
CREATE TABLE fund_document (
    id                bigserial PRIMARY KEY,
    doc_type          text NOT NULL CHECK (doc_type IN ('allocation','transfer','reallocation')),
    number            text NOT NULL CHECK (length(number) BETWEEN 1 AND 100),
    bureau_id         bigint NOT NULL REFERENCES bureau(id),
    jurisdiction_code char(6) NOT NULL REFERENCES jurisdiction(code),
    to_jurisdiction   char(6) REFERENCES jurisdiction(code),
    fund_code         text NOT NULL REFERENCES fund(code),
    to_fund_code      text REFERENCES fund(code),
    fiscal_year       smallint NOT NULL CHECK (fiscal_year BETWEEN 2000 AND 2100),
    effective_date    date NOT NULL,
    amount_fen        bigint NOT NULL CHECK (amount_fen > 0),
    memo              text NOT NULL DEFAULT '',
    status            text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft','posted')),
    created_by        bigint NOT NULL REFERENCES app_user(id),
    created_at        timestamptz NOT NULL DEFAULT now(),
    approved_by       bigint REFERENCES app_user(id),
    approved_at       timestamptz,
    entry_id          bigint REFERENCES journal_entry(id),
    second_entry_id   bigint REFERENCES journal_entry(id),
    CONSTRAINT fund_document_number_unique UNIQUE (bureau_id, number),
    CHECK ((doc_type = 'transfer') = (to_jurisdiction IS NOT NULL)),
    CHECK ((doc_type = 'reallocation') = (to_fund_code IS NOT NULL)),
    CHECK (to_fund_code IS DISTINCT FROM fund_code),
    CHECK (extract(year FROM effective_date) = fiscal_year),
    CONSTRAINT fund_document_maker_checker CHECK (status = 'draft' OR (
        approved_by IS NOT NULL AND approved_by <> created_by AND approved_at IS NOT NULL
        AND entry_id IS NOT NULL
        AND (doc_type <> 'reallocation' OR second_entry_id IS NOT NULL)))
);
COMMENT ON TABLE fund_document IS 'Allocation (拨款), transfer payment (转移支付) and reallocation (调剂) documents';
CREATE INDEX fund_document_scope_idx ON fund_document (jurisdiction_code, fiscal_year);
CREATE INDEX fund_document_receiver_idx ON fund_document (to_jurisdiction, fiscal_year);

-- A document changes once, draft -> posted, approved by another user of the issuing bureau;
-- what it says never changes and it is never deleted.
CREATE FUNCTION fund_document_guard() RETURNS trigger LANGUAGE plpgsql AS $$
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
CREATE TRIGGER fund_document_guard BEFORE UPDATE ON fund_document
    FOR EACH ROW EXECUTE FUNCTION fund_document_guard();
CREATE TRIGGER fund_document_no_delete BEFORE DELETE ON fund_document
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER fund_document_no_truncate BEFORE TRUNCATE ON fund_document
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

CREATE INDEX audit_log_user_idx ON audit_log (user_id, at);
CREATE INDEX journal_entry_document_idx ON journal_entry (document_type, document_id);
"""

DOWNGRADE = r"""
DROP INDEX IF EXISTS journal_entry_document_idx;
DROP INDEX IF EXISTS audit_log_user_idx;
DROP TABLE fund_document;
DROP FUNCTION fund_document_guard();
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
