"""The bank-file line that settled a payout.

A return file's lines are staged in a temporary table and only their effect on the payout
(state, last entry) was kept; the fund trace needs the file and the line that did it.
``payout_settlement`` keeps one row per payout a file line (or a hand match of an exception's
line) settled: payout, bank file, line number, the state it moved to and the entry. Append-only.
The report register also records the fund trace's exports (``trace_csv``, ``trace_xlsx``).

Revision ID: 0019_trace
Revises: 0018_perf
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlmodel.sql.sqltypes  # noqa: F401

from alembic import op

revision: str = "0019_trace"
down_revision: str | Sequence[str] | None = "0018_perf"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = r"""
CREATE TABLE payout_settlement (
    id            bigserial PRIMARY KEY,
    payout_id     bigint NOT NULL REFERENCES payout(id),
    bank_file_id  bigint NOT NULL REFERENCES bank_file(id),
    line_no       integer,
    state         text NOT NULL CHECK (state IN ('paid','failed','returned')),
    entry_id      bigint REFERENCES journal_entry(id),
    exception_id  bigint REFERENCES recon_exception(id)
);
COMMENT ON TABLE payout_settlement IS 'The bank-file line that moved a payout (NULL line: a pain.002 block status)';
CREATE INDEX payout_settlement_payout_idx ON payout_settlement (payout_id, id);
CREATE TRIGGER payout_settlement_append_only BEFORE UPDATE OR DELETE ON payout_settlement
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER payout_settlement_no_truncate BEFORE TRUNCATE ON payout_settlement
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
ALTER TABLE report_record DROP CONSTRAINT report_record_kind_check;
ALTER TABLE report_record ADD CONSTRAINT report_record_kind_check CHECK (kind IN
    ('disclosure', 'audit', 'findings_csv', 'findings_xlsx', 'payouts_csv', 'payouts_xlsx',
     'trace_csv', 'trace_xlsx'));
"""

DOWNGRADE = r"""
DROP TABLE payout_settlement;
ALTER TABLE report_record DROP CONSTRAINT report_record_kind_check;
ALTER TABLE report_record ADD CONSTRAINT report_record_kind_check CHECK (kind IN
    ('disclosure', 'audit', 'findings_csv', 'findings_xlsx', 'payouts_csv', 'payouts_xlsx'));
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
