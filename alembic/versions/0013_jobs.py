"""Jobs: large imports run by a worker off the web process, one transaction each.

Revision ID: 0013_jobs
Revises: 0012_evidence
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlmodel.sql.sqltypes  # noqa: F401

from alembic import op

revision: str = "0013_jobs"
down_revision: str | Sequence[str] | None = "0012_evidence"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = r"""
-- A queued piece of work. Workers take the oldest queued row with FOR UPDATE SKIP LOCKED; the
-- worker running a job holds an advisory lock on its id, so a running job whose lock is free
-- belongs to a worker that died and is marked failed. Progress is written from outside the
-- job's transaction, so it can be read while the job runs.
CREATE TABLE job (
    id           bigserial PRIMARY KEY,
    kind         text NOT NULL,
    state        text NOT NULL DEFAULT 'queued'
                 CHECK (state IN ('queued', 'running', 'succeeded', 'failed')),
    params       jsonb NOT NULL DEFAULT '{}',
    created_by   text NOT NULL,
    lines_done   bigint NOT NULL DEFAULT 0 CHECK (lines_done >= 0),
    lines_total  bigint CHECK (lines_total >= 0),
    result       jsonb,
    error        jsonb,
    attempts     integer NOT NULL DEFAULT 0,
    worker       text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    started_at   timestamptz,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    CHECK ((state IN ('succeeded', 'failed')) = (finished_at IS NOT NULL)),
    CHECK (state <> 'succeeded' OR result IS NOT NULL),
    CHECK (state <> 'failed' OR error IS NOT NULL)
);
CREATE INDEX job_queued_idx ON job (id) WHERE state = 'queued';
CREATE INDEX job_running_idx ON job (id) WHERE state = 'running';
"""

DOWNGRADE = r"""
DROP TABLE job;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
