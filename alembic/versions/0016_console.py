"""Console: a password per user (argon2) and server-side web sessions.

Revision ID: 0016_console
Revises: 0015_jobs_files
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlmodel.sql.sqltypes  # noqa: F401

from alembic import op

revision: str = "0016_console"
down_revision: str | Sequence[str] | None = "0015_jobs_files"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = r"""
-- An argon2id hash (its own salt and parameters inside); NULL: the user cannot log in to the console.
ALTER TABLE app_user ADD COLUMN password_hash text CHECK (password_hash LIKE '$argon2%');

-- A console login. The browser holds a random token in an HttpOnly cookie; only its SHA-256 is
-- stored. The CSRF token is checked on every form the session posts. A session ends at
-- expires_at or when the user logs out (ended_at); rows are kept as the record of logins.
CREATE TABLE web_session (
    id          bigserial PRIMARY KEY,
    token_hash  char(64) NOT NULL UNIQUE,
    user_id     bigint NOT NULL REFERENCES app_user(id),
    csrf_token  text NOT NULL CHECK (length(csrf_token) >= 32),
    client_addr text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    ended_at    timestamptz,
    CHECK (expires_at > created_at)
);
CREATE INDEX web_session_user_idx ON web_session (user_id);
"""

DOWNGRADE = r"""
DROP TABLE web_session;
ALTER TABLE app_user DROP COLUMN password_hash;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
