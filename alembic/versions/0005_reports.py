"""Reports: the record of every report generated and the stored runs of the audit findings.

Revision ID: 0005_reports
Revises: 0001_core
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlmodel.sql.sqltypes  # noqa: F401
from alembic import op

revision: str = "0005_reports"
down_revision: str | Sequence[str] | None = "0001_core"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = r"""
-- Every report file the system produced, so an auditor can prove a file came from it.
CREATE TABLE report_record (
    id                bigserial PRIMARY KEY,
    kind              text NOT NULL CHECK (kind IN ('disclosure','audit','findings_csv')),
    jurisdiction_code char(6) NOT NULL REFERENCES jurisdiction(code),
    fund_code         text REFERENCES fund(code),
    period            char(6) NOT NULL CHECK (period ~ '^[0-9]{4}(0[1-9]|1[0-2])$'),
    parameters        jsonb NOT NULL DEFAULT '{}'::jsonb,
    sha256            char(64) NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size_bytes        bigint NOT NULL CHECK (size_bytes >= 0),
    chain_head        char(64) NOT NULL,
    generated_by      text NOT NULL,
    generated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX report_record_sha_idx ON report_record (sha256);
CREATE INDEX report_record_scope_idx ON report_record (jurisdiction_code, period);
CREATE TRIGGER report_record_append_only BEFORE UPDATE OR DELETE ON report_record
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER report_record_no_truncate BEFORE TRUNCATE ON report_record
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

-- One evaluation of the time-based and ledger-level rules; its findings carry its id as run_id.
CREATE TABLE finding_run (
    id                text PRIMARY KEY CHECK (id ~ '^run-[0-9a-f]{16}$'),
    jurisdiction_code char(6) NOT NULL REFERENCES jurisdiction(code),
    period            char(6) NOT NULL CHECK (period ~ '^[0-9]{4}(0[1-9]|1[0-2])$'),
    as_of             date NOT NULL,
    thresholds        jsonb NOT NULL,
    finding_count     integer NOT NULL CHECK (finding_count >= 0),
    chain_head        char(64) NOT NULL,
    run_by            text NOT NULL,
    run_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX finding_run_scope_idx ON finding_run (jurisdiction_code, period, run_at);
CREATE TRIGGER finding_run_append_only BEFORE UPDATE OR DELETE ON finding_run
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER finding_run_no_truncate BEFORE TRUNCATE ON finding_run
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
CREATE INDEX finding_run_id_idx ON finding (run_id);
"""

DOWNGRADE = r"""
DROP INDEX IF EXISTS finding_run_id_idx;
DROP TABLE finding_run, report_record;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
