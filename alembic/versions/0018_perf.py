"""Set-based reference checks on the payout tables; narrower state indexes.

The per-row foreign keys a settlement pays for on every line (``payout.last_entry_id``, and
``payout_event.payout_id`` / ``entry_id`` on each event row the guard writes) become statement
triggers that check the distinct referenced ids of the whole statement at once. The referenced
rows can never go away (journal entries and payouts refuse DELETE and TRUNCATE) and a payout's
id cannot change, so checking the referencing side is the whole of the foreign key.
``payout_batch_state_idx`` repeats the (batch_id, seq) key for lookups by batch and is dropped;
the county index no longer carries ``state``.

Revision ID: 0018_perf
Revises: 0017_payout_proofs
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0018_perf"
down_revision: str | Sequence[str] | None = "0017_payout_proofs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = r"""
ALTER TABLE payout DROP CONSTRAINT payout_last_entry_id_fkey;
ALTER TABLE payout_event DROP CONSTRAINT payout_event_payout_id_fkey,
                         DROP CONSTRAINT payout_event_entry_id_fkey;

CREATE FUNCTION payout_refs_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE missing bigint;
BEGIN
    SELECT r.id INTO missing
      FROM (SELECT DISTINCT last_entry_id AS id FROM new_payout WHERE last_entry_id IS NOT NULL) r
     WHERE NOT EXISTS (SELECT 1 FROM journal_entry e WHERE e.id = r.id) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'payout names journal entry %, which does not exist', missing
            USING ERRCODE = '23503', CONSTRAINT = 'payout_last_entry_id_fkey';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER payout_refs_insert AFTER INSERT ON payout
    REFERENCING NEW TABLE AS new_payout
    FOR EACH STATEMENT EXECUTE FUNCTION payout_refs_check();
CREATE TRIGGER payout_refs_update AFTER UPDATE ON payout
    REFERENCING NEW TABLE AS new_payout
    FOR EACH STATEMENT EXECUTE FUNCTION payout_refs_check();

CREATE FUNCTION payout_id_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id IS DISTINCT FROM OLD.id THEN
        RAISE EXCEPTION 'a payout''s id never changes' USING ERRCODE = '42501';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER payout_id_fixed BEFORE UPDATE OF id ON payout
    FOR EACH ROW EXECUTE FUNCTION payout_id_fixed();

CREATE FUNCTION payout_event_refs_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE missing bigint;
BEGIN
    SELECT r.id INTO missing
      FROM (SELECT DISTINCT payout_id AS id FROM new_event) r
     WHERE NOT EXISTS (SELECT 1 FROM payout p WHERE p.id = r.id) LIMIT 1;
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
CREATE TRIGGER payout_event_refs AFTER INSERT ON payout_event
    REFERENCING NEW TABLE AS new_event
    FOR EACH STATEMENT EXECUTE FUNCTION payout_event_refs_check();

DROP INDEX payout_batch_state_idx;
DROP INDEX payout_county_fund_state_idx;
CREATE INDEX payout_county_fund_idx ON payout (county_code, fund_code);
"""

DOWNGRADE = r"""
DROP INDEX payout_county_fund_idx;
CREATE INDEX payout_county_fund_state_idx ON payout (county_code, fund_code, state);
CREATE INDEX payout_batch_state_idx ON payout (batch_id, state);
DROP TRIGGER payout_event_refs ON payout_event;
DROP FUNCTION payout_event_refs_check();
DROP TRIGGER payout_id_fixed ON payout;
DROP FUNCTION payout_id_fixed();
DROP TRIGGER payout_refs_update ON payout;
DROP TRIGGER payout_refs_insert ON payout;
DROP FUNCTION payout_refs_check();
ALTER TABLE payout_event ADD CONSTRAINT payout_event_payout_id_fkey
        FOREIGN KEY (payout_id) REFERENCES payout(id),
    ADD CONSTRAINT payout_event_entry_id_fkey FOREIGN KEY (entry_id) REFERENCES journal_entry(id);
ALTER TABLE payout ADD CONSTRAINT payout_last_entry_id_fkey
    FOREIGN KEY (last_entry_id) REFERENCES journal_entry(id);
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
