"""A payout's history is written by its guards alone.

``payout_event`` was append-only, but the application could still insert into it: a row naming
an existing payout and a real entry, saying whatever it liked. So every insert was checked once
per statement for the payout and the entry it names (``payout_event_refs``, 0018), though the only
writers are the payout's own guards, whose events carry the ids of the rows being written.

Now the guards run as the owner (SECURITY DEFINER, with a fixed search path) and the application
can only read ``payout_event`` (``ledger.db.READ_ONLY_TABLES``), so an event exists only because
a payout moved. What the check asked then holds by construction: the payout's registry row is
written first (``payout_00_ref_insert`` fires before ``payout_guard_insert``), and the entry an
event names is the payout's ``last_entry_id``, checked by ``payout_refs_check`` on the same
statement. The check goes: 0.19 s of a 100,000-line build, 0.1–0.2 s of its release and 0.26 s
of its settlement.

Revision ID: 0026_event_writer
Revises: 0025_lean_build
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlmodel.sql.sqltypes  # noqa: F401

from alembic import op

revision: str = "0026_event_writer"
down_revision: str | Sequence[str] | None = "0025_lean_build"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GUARDS = ("payout_guard_insert()", "payout_guard_update()")

UPGRADE = "\n".join(
    f"ALTER FUNCTION {g} SECURITY DEFINER;\nALTER FUNCTION {g} SET search_path = public, pg_temp;"
    for g in GUARDS
) + """
DROP TRIGGER payout_event_refs ON payout_event;
DROP FUNCTION payout_event_refs_check();
"""

DOWNGRADE = "\n".join(
    f"ALTER FUNCTION {g} SECURITY INVOKER;\nALTER FUNCTION {g} RESET search_path;" for g in GUARDS
) + r"""
CREATE FUNCTION payout_event_refs_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE missing bigint;
BEGIN
    SELECT r.id INTO missing
      FROM (SELECT DISTINCT payout_id AS id FROM new_event) r
     WHERE NOT EXISTS (SELECT 1 FROM payout_ref p WHERE p.id = r.id) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'payout event names payout %, which does not exist', missing
            USING ERRCODE = '23503', CONSTRAINT = 'payout_event_payout_id_fkey';
    END IF;
    SELECT r.id INTO missing
      FROM (SELECT DISTINCT entry_id AS id FROM new_event WHERE entry_id IS NOT NULL) r
     WHERE NOT EXISTS (SELECT 1 FROM journal_entry e WHERE e.id = r.id) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'payout event names journal entry %, which does not exist', missing
            USING ERRCODE = '23503', CONSTRAINT = 'payout_event_entry_id_fkey';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER payout_event_refs AFTER INSERT ON payout_event REFERENCING NEW TABLE AS new_event
    FOR EACH STATEMENT EXECUTE FUNCTION payout_event_refs_check();
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
