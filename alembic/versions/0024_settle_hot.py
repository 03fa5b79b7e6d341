"""Settling rewrites a payout in place: no index on its state, room on its pages, set-based checks.

A settlement (and a release) changes a payout's state and the entry that booked it, nothing any
index covers but one: the partial unique index "one live payout per person, fund and period"
(``WHERE state IN live``), whose predicate names the state. That index made every state change
write a new entry in all six indexes of the row. It becomes ``payout_live``, a narrow registry
with the same rule as its primary key (named ``payout_one_live_attempt``, so a refusal still
names the rule), kept by the payout's statement triggers (SECURITY DEFINER: the application can
only read it): a payout entering a live state is registered, one leaving the live set (failed,
returned, cancelled) is struck out. With the state in no index and room left on each page
(``fillfactor``), a release and a settlement are heap-only updates.

The payout's own four row-by-row foreign keys (bank, batch, county, fund: four lookups per line a
batch build writes) become one check per statement of the distinct values an INSERT writes, and
a row check on an UPDATE that changes one of them; the tables they name now refuse DELETE and
TRUNCATE, as the foreign keys did while a payout named the row.

``payout_settlement``'s four row-by-row foreign keys (one lookup per settled line per key) become
one set-based check per statement under the same constraint names. Every table they named is
append-only or refuses DELETE, so a referenced row cannot go away later.

Revision ID: 0024_settle_hot
Revises: 0023_journal_post
Create Date: 2026-12-01
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import sqlmodel.sql.sqltypes  # noqa: F401

from alembic import op
from ledger import payouts

revision: str = "0024_settle_hot"
down_revision: str | Sequence[str] | None = "0023_journal_post"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PERIOD_RE = "^[0-9]{4}(0[1-9]|1[0-2])$"
FILLFACTOR = 50
"""Of a payout page, the share filled by inserts: the rest takes the versions its lines' release and
settlement write in place (at 50, every release and 97% of settlements stay on their page, and
the table ends no larger than at 100, where each update writes a new version elsewhere)."""
LIVE = "(" + ", ".join(f"'{s}'" for s in payouts.LIVE_STATES) + ")"

# payout_settlement's references: column → (table, the constraint name a refusal carries).
SETTLEMENT_REFS = {
    "payout_id": "payout_ref",
    "entry_id": "journal_entry",
    "bank_file_id": "bank_file",
    "exception_id": "recon_exception",
}


# payout's references: column → (table, key column).
PAYOUT_KEYS = {
    "bank_code": ("bank", "code"),
    "batch_id": ("payment_batch", "id"),
    "county_code": ("jurisdiction", "code"),
    "fund_code": ("fund", "code"),
}


def _missing(column: str, table: str, key: str, rows: str) -> str:
    """PL/pgSQL: raise as the foreign key ``payout_{column}_fkey`` did when a value of ``rows``
    (a relation or a one-row VALUES) names no row of ``table``."""
    return f"""    SELECT r.v::text INTO missing
      FROM (SELECT DISTINCT {column} AS v FROM {rows} WHERE {column} IS NOT NULL) r
     WHERE NOT EXISTS (SELECT 1 FROM {table} x WHERE x.{key} = r.v) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'insert or update on table "payout" violates foreign key constraint '
            '"payout_{column}_fkey": {table} % does not exist', missing
            USING ERRCODE = '23503', CONSTRAINT = 'payout_{column}_fkey';
    END IF;"""


def _payout_keys() -> str:
    statement = "\n".join(_missing(c, t, k, "new_payout") for c, (t, k) in PAYOUT_KEYS.items())
    row = "\n".join(
        _missing(c, t, k, f"(SELECT NEW.{c} AS {c}) n") for c, (t, k) in PAYOUT_KEYS.items()
    )
    columns = ", ".join(PAYOUT_KEYS)
    changed = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in PAYOUT_KEYS)
    drop = ", ".join(f"DROP CONSTRAINT payout_{c}_fkey" for c in PAYOUT_KEYS)
    guards = "\n".join(
        f"CREATE TRIGGER {t}_no_delete BEFORE DELETE ON {t} FOR EACH ROW EXECUTE FUNCTION refuse_change();\n"
        f"CREATE TRIGGER {t}_no_truncate BEFORE TRUNCATE ON {t} FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();"
        for t, _ in PAYOUT_KEYS.values()
    )
    return f"""
ALTER TABLE payout {drop};
{guards}
CREATE FUNCTION payout_keys_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE missing text;
BEGIN
{statement}
    RETURN NULL;
END $$;
CREATE TRIGGER payout_keys_insert AFTER INSERT ON payout REFERENCING NEW TABLE AS new_payout
    FOR EACH STATEMENT EXECUTE FUNCTION payout_keys_check();
CREATE FUNCTION payout_keys_check_row() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE missing text;
BEGIN
{row}
    RETURN NULL;
END $$;
CREATE TRIGGER payout_keys_update AFTER UPDATE OF {columns} ON payout FOR EACH ROW
    WHEN ({changed}) EXECUTE FUNCTION payout_keys_check_row();
"""


def _previous_payout_keys() -> str:
    drop = "\n".join(
        f"DROP TRIGGER {t}_no_delete ON {t};\nDROP TRIGGER {t}_no_truncate ON {t};"
        for t, _ in PAYOUT_KEYS.values()
    )
    add = ",\n    ".join(
        f"ADD CONSTRAINT payout_{c}_fkey FOREIGN KEY ({c}) REFERENCES {t}({k})"
        for c, (t, k) in PAYOUT_KEYS.items()
    )
    return f"""
DROP TRIGGER payout_keys_insert ON payout;
DROP TRIGGER payout_keys_update ON payout;
DROP FUNCTION payout_keys_check();
DROP FUNCTION payout_keys_check_row();
{drop}
ALTER TABLE payout {add};
"""


def _each_payout_partition(alter: str) -> str:
    """``ALTER TABLE <partition> <alter>`` for every partition of ``payout``."""
    return f"""DO $$
DECLARE part text;
BEGIN
    FOR part IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                 WHERE i.inhparent = 'payout'::regclass LOOP
        EXECUTE format('ALTER TABLE %I {alter}', part);
    END LOOP;
END $$;"""


def _partition_function(storage: str) -> str:
    return rf"""
CREATE OR REPLACE FUNCTION ensure_period_partition(p char(6)) RETURNS void LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE t text; part text;
BEGIN
    IF p IS NULL OR p !~ '{PERIOD_RE}' THEN
        RAISE EXCEPTION 'period % is not YYYYMM', p USING ERRCODE = '22023';
    END IF;
    IF EXISTS (SELECT 1 FROM period_archive WHERE period = p) THEN
        RAISE EXCEPTION 'period % is archived: nothing more is paid in it', p
            USING ERRCODE = 'P0001', CONSTRAINT = 'period_archived';
    END IF;
    FOREACH t IN ARRAY ARRAY['payout', 'payout_event'] LOOP
        part := t || '_p' || p;
        IF to_regclass(quote_ident(part)) IS NULL THEN
            PERFORM pg_advisory_xact_lock(hashtext('ensure_period_partition'), p::integer);
            IF to_regclass(quote_ident(part)) IS NULL THEN
                EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS '
                               'INCLUDING STORAGE, CHECK (period = %L))', part, t, p);
                {storage}
                EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES IN (%L)', t, part, p);
                PERFORM name_partition_indexes(part);
            END IF;
        END IF;
    END LOOP;
END $$;
REVOKE ALL ON FUNCTION ensure_period_partition(char) FROM PUBLIC;
"""


def _settlement_refs_check() -> str:
    checks = "\n".join(
        f"""    SELECT r.id INTO missing
      FROM (SELECT DISTINCT {column} AS id FROM new_settlement WHERE {column} IS NOT NULL) r
     WHERE NOT EXISTS (SELECT 1 FROM {table} x WHERE x.id = r.id) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'insert or update on table "payout_settlement" violates foreign key '
            'constraint "payout_settlement_{column}_fkey": {table} % does not exist', missing
            USING ERRCODE = '23503', CONSTRAINT = 'payout_settlement_{column}_fkey';
    END IF;"""
        for column, table in SETTLEMENT_REFS.items()
    )
    return f"""
CREATE FUNCTION payout_settlement_refs_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE missing bigint;
BEGIN
{checks}
    RETURN NULL;
END $$;
"""


def _frozen(p: str) -> str:
    return ", ".join(f"{p}.{c.strip()}" for c in payouts.FROZEN_COLUMNS.split(","))


# The statement guard joins the statement's old and new rows once: the moves it finds are
# checked against the transitions and recorded as events in one statement (the events of a
# refused statement go with it). A released line's frozen columns are guarded row by row, and
# only by an UPDATE that sets one of them: a settlement or a release sets none.
GUARD = r"""
CREATE OR REPLACE FUNCTION payout_guard_update() RETURNS trigger LANGUAGE plpgsql
SET enable_nestloop = off AS $$
DECLARE bad record;
BEGIN
    WITH moved AS MATERIALIZED (
        SELECT n.id, n.period, o.state AS old_state, n.state AS new_state, n.last_entry_id,
               ({transitions}) AS allowed,
               CASE WHEN n.state = 'sent' THEN {leaf} END AS line_digest
          FROM old_payout o JOIN new_payout n USING (id)
         WHERE n.state <> o.state),
    events AS (
        INSERT INTO payout_event (payout_id, period, from_state, to_state, entry_id, source,
                                  line_digest)
        SELECT id, period, old_state, new_state, last_entry_id,
               current_setting('ledger.source', true), line_digest
          FROM moved WHERE allowed)
    SELECT id, old_state, new_state INTO bad FROM moved WHERE NOT allowed LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'payout % cannot move from % to %', bad.id, bad.old_state, bad.new_state
            USING ERRCODE = '23514', CONSTRAINT = 'payout_transition';
    END IF;
    RETURN NULL;
END $$;
CREATE FUNCTION payout_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'payout % was released: its line cannot change', OLD.id USING ERRCODE = '42501';
END $$;
CREATE TRIGGER payout_frozen BEFORE UPDATE OF {columns} ON payout FOR EACH ROW
    WHEN (OLD.state <> 'draft' AND ({new_frozen}) IS DISTINCT FROM ({old_frozen}))
    EXECUTE FUNCTION payout_frozen();

-- The registry of global keys follows an UPDATE that sets one of them (a draft's, or a cancel's
-- reissue_of), row by row; one that sets none (a settlement, a release) never reaches it.
DROP TRIGGER payout_00_ref_update ON payout;
DROP FUNCTION payout_ref_update();
CREATE FUNCTION payout_ref_update() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    UPDATE payout_ref SET reference = NEW.reference, reissue_of = NEW.reissue_of,
           batch_id = NEW.batch_id, seq = NEW.seq
     WHERE id = NEW.id;
    RETURN NULL;
END $$;
CREATE TRIGGER payout_00_ref_update AFTER UPDATE OF reference, reissue_of, batch_id, seq ON payout
    FOR EACH ROW
    WHEN ((OLD.reference, OLD.reissue_of, OLD.batch_id, OLD.seq)
          IS DISTINCT FROM (NEW.reference, NEW.reissue_of, NEW.batch_id, NEW.seq))
    EXECUTE FUNCTION payout_ref_update();
"""


def guard() -> str:
    return GUARD.format(
        transitions=payouts.transition_sql("o", "n"),
        leaf=payouts.leaf_hash_sql("n"),
        columns=payouts.FROZEN_COLUMNS,
        new_frozen=_frozen("NEW"),
        old_frozen=_frozen("OLD"),
    )


PREVIOUS_REF_UPDATE = r"""
DROP TRIGGER payout_frozen ON payout;
DROP FUNCTION payout_frozen();
DROP TRIGGER payout_00_ref_update ON payout;
DROP FUNCTION payout_ref_update();
CREATE FUNCTION payout_ref_update() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE c record;
BEGIN
    FOR c IN SELECT n.id, n.reference, n.reissue_of, n.batch_id, n.seq
               FROM old_payout o JOIN new_payout n USING (id)
              WHERE (o.reference, o.reissue_of, o.batch_id, o.seq)
                    IS DISTINCT FROM (n.reference, n.reissue_of, n.batch_id, n.seq) LOOP
        UPDATE payout_ref SET reference = c.reference, reissue_of = c.reissue_of,
               batch_id = c.batch_id, seq = c.seq
         WHERE id = c.id;
    END LOOP;
    RETURN NULL;
END $$;
CREATE TRIGGER payout_00_ref_update AFTER UPDATE ON payout
    REFERENCING OLD TABLE AS old_payout NEW TABLE AS new_payout
    FOR EACH STATEMENT EXECUTE FUNCTION payout_ref_update();
"""


def _partitions() -> ModuleType:
    here = Path(__file__).parent
    spec = importlib.util.spec_from_file_location("_rev_0021", here / "0021_partitions.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


UPGRADE = rf"""
DROP INDEX payout_one_live_attempt;
CREATE TABLE payout_live (
    person_key text NOT NULL,
    fund_code  text NOT NULL,
    period     char(6) NOT NULL,
    payout_id  bigint NOT NULL,
    CONSTRAINT payout_one_live_attempt PRIMARY KEY (person_key, fund_code, period)
);
COMMENT ON TABLE payout_live IS 'The live payout (draft, sent or paid) of each person, fund and period: at most one';
INSERT INTO payout_live (person_key, fund_code, period, payout_id)
SELECT person_key, fund_code, period, id FROM payout WHERE state IN {LIVE};
CREATE TRIGGER payout_live_no_change BEFORE UPDATE ON payout_live
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER payout_live_no_truncate BEFORE TRUNCATE ON payout_live
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

CREATE FUNCTION payout_live_insert() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    INSERT INTO payout_live (person_key, fund_code, period, payout_id)
    SELECT person_key, fund_code, period, id FROM new_payout WHERE state IN {LIVE};
    RETURN NULL;
END $$;

-- The rows that leave or enter the live set are found by one hash join of the statement's old
-- and new rows (a nested loop over two transition tables is quadratic); the few they are then
-- struck out or registered by their key.
CREATE FUNCTION payout_live_update() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    nestloop text := current_setting('enable_nestloop');
    out_person text[]; out_fund text[]; out_period text[]; out_id bigint[];
    in_person text[]; in_fund text[]; in_period text[]; in_id bigint[];
BEGIN
    PERFORM set_config('enable_nestloop', 'off', true);
    SELECT array_agg(c.o_person) FILTER (WHERE c.was_live AND (NOT c.is_live OR c.rekeyed)),
           array_agg(c.o_fund) FILTER (WHERE c.was_live AND (NOT c.is_live OR c.rekeyed)),
           array_agg(c.o_period) FILTER (WHERE c.was_live AND (NOT c.is_live OR c.rekeyed)),
           array_agg(c.id) FILTER (WHERE c.was_live AND (NOT c.is_live OR c.rekeyed)),
           array_agg(c.n_person) FILTER (WHERE c.is_live AND (NOT c.was_live OR c.rekeyed)),
           array_agg(c.n_fund) FILTER (WHERE c.is_live AND (NOT c.was_live OR c.rekeyed)),
           array_agg(c.n_period) FILTER (WHERE c.is_live AND (NOT c.was_live OR c.rekeyed)),
           array_agg(c.id) FILTER (WHERE c.is_live AND (NOT c.was_live OR c.rekeyed))
      INTO out_person, out_fund, out_period, out_id, in_person, in_fund, in_period, in_id
      FROM (SELECT n.id, o.person_key AS o_person, o.fund_code AS o_fund, o.period AS o_period,
                   n.person_key AS n_person, n.fund_code AS n_fund, n.period AS n_period,
                   o.state IN {LIVE} AS was_live, n.state IN {LIVE} AS is_live,
                   (n.person_key, n.fund_code, n.period)
                   IS DISTINCT FROM (o.person_key, o.fund_code, o.period) AS rekeyed
              FROM old_payout o JOIN new_payout n USING (id)) c
     WHERE c.was_live IS DISTINCT FROM c.is_live OR (c.rekeyed AND (c.was_live OR c.is_live));
    PERFORM set_config('enable_nestloop', nestloop, true);
    IF out_id IS NOT NULL THEN
        DELETE FROM payout_live l
         USING unnest(out_person, out_fund, out_period, out_id) AS x(person_key, fund_code, period, id)
         WHERE l.person_key = x.person_key AND l.fund_code = x.fund_code
           AND l.period = x.period AND l.payout_id = x.id;
    END IF;
    IF in_id IS NOT NULL THEN
        INSERT INTO payout_live (person_key, fund_code, period, payout_id)
        SELECT * FROM unnest(in_person, in_fund, in_period, in_id);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER payout_live_insert AFTER INSERT ON payout REFERENCING NEW TABLE AS new_payout
    FOR EACH STATEMENT EXECUTE FUNCTION payout_live_insert();
CREATE TRIGGER payout_live_update AFTER UPDATE ON payout
    REFERENCING OLD TABLE AS old_payout NEW TABLE AS new_payout
    FOR EACH STATEMENT EXECUTE FUNCTION payout_live_update();

{_partition_function(f"IF t = 'payout' THEN EXECUTE format('ALTER TABLE %I SET (fillfactor = {FILLFACTOR})', part); END IF;")}
{_each_payout_partition(f'SET (fillfactor = {FILLFACTOR})')}

{"".join(f"ALTER TABLE payout_settlement DROP CONSTRAINT payout_settlement_{c}_fkey;" + chr(10) for c in SETTLEMENT_REFS)}
{_settlement_refs_check()}
CREATE TRIGGER payout_settlement_refs AFTER INSERT ON payout_settlement
    REFERENCING NEW TABLE AS new_settlement
    FOR EACH STATEMENT EXECUTE FUNCTION payout_settlement_refs_check();
"""

DOWNGRADE = rf"""
DROP TRIGGER payout_settlement_refs ON payout_settlement;
DROP FUNCTION payout_settlement_refs_check();
{"".join(f"ALTER TABLE payout_settlement ADD CONSTRAINT payout_settlement_{c}_fkey FOREIGN KEY ({c}) REFERENCES {t}(id);" + chr(10) for c, t in SETTLEMENT_REFS.items())}
{_partition_function("")}
{_each_payout_partition('RESET (fillfactor)')}
DROP TRIGGER payout_live_insert ON payout;
DROP TRIGGER payout_live_update ON payout;
DROP FUNCTION payout_live_insert();
DROP FUNCTION payout_live_update();
DROP TABLE payout_live;
CREATE UNIQUE INDEX payout_one_live_attempt ON payout (person_key, fund_code, period)
    WHERE state IN {LIVE};
SELECT name_partition_indexes(c.relname) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
 WHERE i.inhparent = 'payout'::regclass;
"""


def upgrade() -> None:
    op.execute(UPGRADE)
    op.execute(guard())
    op.execute(_payout_keys())


def downgrade() -> None:
    op.execute(_previous_payout_keys())
    op.execute(PREVIOUS_REF_UPDATE)
    op.execute(_partitions()._guards())
    op.execute(DOWNGRADE)
