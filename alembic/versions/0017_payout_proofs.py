"""Payout proofs: a leaf anyone holding the printed line and its salt can recompute.

``payout.salt`` (32 hex, random per line, set when the line is built) and
``payout.leaf_version``. Released batches keep verifying: their lines keep leaf version 1 (the
default for every existing row) and the digest they were released with; new lines get
version 2 (``ledger.payouts``), and so do existing drafts, whose digest is only computed at
release. The payout guard is rewritten from ``ledger.payouts``: it records each line's leaf hash
by its own version when the line is sent, and freezes the salt and the version with the rest of
a released line. ``mask_name`` becomes a SQL function (``ledger.pii.MASK_NAME_SQL``).

Downgrade is refused once a version-2 line has been released (its digest would no longer be
recomputable).

Revision ID: 0017_payout_proofs
Revises: 0016_console
Create Date: 2026-12-02
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path

import sqlmodel.sql.sqltypes  # noqa: F401

from alembic import op
from ledger import payouts
from ledger.pii import MASK_NAME_SQL

revision: str = "0017_payout_proofs"
down_revision: str | Sequence[str] | None = "0016_console"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SALT_SQL = "replace(gen_random_uuid()::text, '-', '')"

UPGRADE = rf"""
ALTER TABLE payout ADD COLUMN leaf_version smallint NOT NULL DEFAULT 1
        CHECK (leaf_version IN (1, 2)),
    ADD COLUMN salt char(32);
ALTER TABLE payout ALTER COLUMN leaf_version SET DEFAULT 2,
    ALTER COLUMN salt SET DEFAULT {SALT_SQL};
UPDATE payout SET leaf_version = 2, salt = {SALT_SQL} WHERE state = 'draft';
ALTER TABLE payout ADD CONSTRAINT payout_salt CHECK (leaf_version = 1 OR salt ~ '^[0-9a-f]{{32}}$');
COMMENT ON COLUMN payout.salt IS 'Random per line, delivered with its proof: the leaf commits to it';
COMMENT ON COLUMN payout.leaf_version IS 'Which leaf the batch digest used (ledger.payouts)';
"""

GUARD = r"""
CREATE OR REPLACE FUNCTION payout_guard_update() RETURNS trigger LANGUAGE plpgsql
SET enable_nestloop = off AS $$
DECLARE bad record;
BEGIN
    SELECT o.id, o.state AS old_state, n.state AS new_state INTO bad
      FROM old_payout o JOIN new_payout n USING (id)
     WHERE n.state <> o.state AND NOT ({transitions})
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'payout % cannot move from % to %', bad.id, bad.old_state, bad.new_state
            USING ERRCODE = '23514', CONSTRAINT = 'payout_transition';
    END IF;
    SELECT o.id INTO bad
      FROM old_payout o JOIN new_payout n USING (id)
     WHERE o.state <> 'draft' AND ({new_frozen}) IS DISTINCT FROM ({old_frozen})
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'payout % was released: its line cannot change', bad.id
            USING ERRCODE = '42501';
    END IF;
    INSERT INTO payout_event (payout_id, from_state, to_state, entry_id, source, line_digest)
    SELECT n.id, o.state, n.state, n.last_entry_id, current_setting('ledger.source', true),
           CASE WHEN n.state = 'sent' THEN {leaf} END
      FROM old_payout o JOIN new_payout n USING (id)
     WHERE n.state <> o.state;
    RETURN NULL;
END $$;
"""


def _frozen(p: str) -> str:
    return ", ".join(f"{p}.{c.strip()}" for c in payouts.FROZEN_COLUMNS.split(","))


def guard() -> str:
    return GUARD.format(
        transitions=payouts.transition_sql("o", "n"),
        new_frozen=_frozen("n"),
        old_frozen=_frozen("o"),
        leaf=payouts.leaf_hash_sql("n"),
    )


def _previous_guard() -> str:
    """0010's guard, restored on downgrade."""
    here = Path(__file__).parent
    modules = []
    for name in ("0006_integrity", "0010_account_encryption"):
        spec = importlib.util.spec_from_file_location(f"_rev_{name}", here / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        modules.append(module)
    integrity, accounts = modules
    return str(accounts.guard_over_account_key(integrity))


REFUSE_DOWNGRADE = r"""
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM payout WHERE leaf_version = 2 AND state <> 'draft') THEN
        RAISE EXCEPTION 'released lines use leaf version 2: their digests need this revision';
    END IF;
END $$;
"""

DOWNGRADE = r"""
ALTER TABLE payout DROP CONSTRAINT payout_salt, DROP COLUMN salt, DROP COLUMN leaf_version;
DROP FUNCTION mask_name(text);
"""


def upgrade() -> None:
    op.execute(MASK_NAME_SQL)
    op.execute(UPGRADE)
    op.execute(guard())


def downgrade() -> None:
    op.execute(REFUSE_DOWNGRADE)
    op.execute(_previous_guard())
    op.execute(DOWNGRADE)
