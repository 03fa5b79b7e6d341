"""Report exports: the findings as XLSX and the payouts as CSV and XLSX are report files too.

Revision ID: 0014_report_exports
Revises: 0013_jobs
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014_report_exports"
down_revision: str | Sequence[str] | None = "0013_jobs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = r"""
ALTER TABLE report_record DROP CONSTRAINT report_record_kind_check;
ALTER TABLE report_record ADD CONSTRAINT report_record_kind_check CHECK (kind IN
    ('disclosure', 'audit', 'findings_csv', 'findings_xlsx', 'payouts_csv', 'payouts_xlsx'));
"""

DOWNGRADE = r"""
ALTER TABLE report_record DROP CONSTRAINT report_record_kind_check;
ALTER TABLE report_record ADD CONSTRAINT report_record_kind_check
    CHECK (kind IN ('disclosure', 'audit', 'findings_csv'));
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
