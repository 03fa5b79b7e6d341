"""Job files: the bytes a queued import reads, encrypted, dropped once the job is finished.

Revision ID: 0015_jobs_files
Revises: 0014_report_exports
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlmodel.sql.sqltypes  # noqa: F401

from alembic import op

revision: str = "0015_jobs_files"
down_revision: str | Sequence[str] | None = "0014_report_exports"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = r"""
-- The uploaded file of a queued import, kept in the database so that the job survives a restart
-- of the web process and any machine's worker can run it. Rosters and return files list ID and
-- account numbers, so the file is encrypted (ledger.pii), in parts of 1 MiB so that neither the
-- web process nor the worker holds the interpreter for long on one large value. The parts are
-- set to NULL when the job finishes, in the transaction that finishes it.
CREATE TABLE job_file (
    job_id      bigint NOT NULL REFERENCES job (id),
    part        integer NOT NULL CHECK (part >= 0),
    content     bytea,
    PRIMARY KEY (job_id, part)
);
-- Ciphertext does not compress: storing it as it is spares the server a useless attempt.
ALTER TABLE job_file ALTER COLUMN content SET STORAGE EXTERNAL;
"""

DOWNGRADE = r"""
DROP TABLE job_file;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
