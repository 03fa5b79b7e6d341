"""Payouts and their history partitioned by period; archived periods.

``payout`` and ``payout_event`` become ``PARTITION BY LIST (period)``, one partition a period
(``payout_pYYYYMM``, ``payout_event_pYYYYMM``; ``payout_event`` gains the payout's ``period``).
A partition is made by ``ensure_period_partition(period)`` (SECURITY DEFINER: the application
role owns no table), which a trigger on ``payment_batch`` calls for every new batch, so a
period's partitions exist as soon as it has a batch; closing a month makes the next three
months' ahead, in that short transaction, so a month's first batch normally finds them (making
one holds SHARE ROW EXCLUSIVE on the tables the payout's foreign keys name). It creates a plain table and ATTACHes it,
which takes SHARE UPDATE EXCLUSIVE on the parent (reads and writes of other periods go on), not
the ACCESS EXCLUSIVE of CREATE TABLE … PARTITION OF. There is no DEFAULT partition: a payout
of a period without one is refused, never parked where a later partition could not be made.

A primary key or unique constraint of a partitioned table must hold the partition key, so the
global ones move to ``payout_ref``, a narrow unpartitioned registry written by the payout's own
statement trigger (SECURITY DEFINER; the application may only read it): ``id`` (the key every
other table's foreign key now names), ``reference`` (never reused, even after archiving),
``reissue_of`` and ``(batch_id, seq)`` — a reissue keeps its old period, so one batch's lines can
lie in several partitions. The registry outlives an archived period's rows.

``period_archive`` (append-only, chained as evidence: its head enters every checkpoint) records
an archived period: the files' row counts and SHA-256, the batch roots the period's lines belong
to and the totals by county, fund and state that ``verify`` adds to the live subledger.
A record names the ``period_archive_request`` of another admin of the archiver's bureau (four
eyes, refused by ``period_archive_maker_checker``).
``archive_period_partitions(period)`` (SECURITY DEFINER) detaches a recorded period's partitions
— only when its record's counts are the partitions' — and keeps them, append-only and out of the
application's reach, in the schema ``archive``; dropping them is the DBA's later decision.

Downgrade is refused once a period is archived; otherwise it rebuilds the unpartitioned tables.

Revision ID: 0021_partitions
Revises: 0020_notice
Create Date: 2026-12-01
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import sqlmodel.sql.sqltypes  # noqa: F401

from alembic import op

revision: str = "0021_partitions"
down_revision: str | Sequence[str] | None = "0020_notice"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PERIOD_RE = "^[0-9]{4}(0[1-9]|1[0-2])$"
_TS = "to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US')"
ARCHIVE_DIGEST = (
    "r.id::text, r.period, r.request_id::text, r.approved_by::text, r.archived_by, " + _TS.format("r.archived_at") + ", "
    "r.payout_count::text, r.event_count::text, r.files::text, r.batches::text, r.totals::text, "
    "r.kept_as"
)

_PAYOUT_FKS = {
    "recon_exception": (
        "payout_id",
        "matched_payout_id",
        "proposed_payout_id",
        "suggested_payout_id",
    ),
    "payout_settlement": ("payout_id",),
}


def _fks(target: str) -> str:
    return "\n".join(
        f"ALTER TABLE {t} ADD CONSTRAINT {t}_{c}_fkey FOREIGN KEY ({c}) REFERENCES {target}(id);"
        for t, cols in _PAYOUT_FKS.items()
        for c in cols
    )


def _drop_fks() -> str:
    return "\n".join(
        f"ALTER TABLE {t} DROP CONSTRAINT {t}_{c}_fkey;"
        for t, cols in _PAYOUT_FKS.items()
        for c in cols
    )


UPGRADE = rf"""
{_drop_fks()}
ALTER TABLE payout DROP CONSTRAINT payout_reissue_of_fkey;
ALTER TABLE payout RENAME TO payout_unpartitioned;
ALTER TABLE payout_event RENAME TO payout_event_unpartitioned;

CREATE TABLE payout (LIKE payout_unpartitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS
    INCLUDING COMMENTS INCLUDING STORAGE) PARTITION BY LIST (period);
COMMENT ON TABLE payout IS 'One row per person per attempt, a partition per period (payout_pYYYYMM)';
CREATE TABLE payout_event (LIKE payout_event_unpartitioned INCLUDING DEFAULTS
    INCLUDING CONSTRAINTS INCLUDING COMMENTS INCLUDING STORAGE,
    period char(6) NOT NULL) PARTITION BY LIST (period);
COMMENT ON TABLE payout_event IS 'Every payout transition, partitioned like its payout';

CREATE TABLE payout_ref (
    id         bigint PRIMARY KEY,
    reference  varchar(12) NOT NULL UNIQUE,
    reissue_of bigint UNIQUE REFERENCES payout_ref(id),
    batch_id   bigint NOT NULL REFERENCES payment_batch(id),
    seq        integer NOT NULL,
    period     char(6) NOT NULL,
    UNIQUE (batch_id, seq)
);
COMMENT ON TABLE payout_ref IS 'Every payout ever made, archived or live: the global keys of the partitioned payout';

CREATE SCHEMA archive;
COMMENT ON SCHEMA archive IS 'Detached partitions of archived periods (period_archive), append-only';

-- Four eyes: one admin asks for a period to be archived, another of the same bureau archives it.
CREATE TABLE period_archive_request (
    id           bigserial PRIMARY KEY,
    period       char(6) NOT NULL CHECK (period ~ '{PERIOD_RE}'),
    bureau_id    bigint NOT NULL REFERENCES bureau(id),
    requested_by bigint NOT NULL REFERENCES app_user(id),
    reason       text NOT NULL CHECK (length(btrim(reason)) > 0),
    requested_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE period_archive_request IS 'A request to archive a period; another admin of its bureau carries it out';
CREATE TRIGGER period_archive_request_append_only BEFORE UPDATE OR DELETE ON period_archive_request
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER period_archive_request_no_truncate BEFORE TRUNCATE ON period_archive_request
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

CREATE TABLE period_archive (
    id           bigserial PRIMARY KEY,
    period       char(6) NOT NULL UNIQUE REFERENCES fiscal_period_close(period),
    request_id   bigint NOT NULL UNIQUE REFERENCES period_archive_request(id),
    approved_by  bigint NOT NULL REFERENCES app_user(id),
    archived_at  timestamptz NOT NULL DEFAULT now(),
    archived_by  text NOT NULL,
    payout_count bigint NOT NULL CHECK (payout_count >= 0),
    event_count  bigint NOT NULL CHECK (event_count >= 0),
    files        jsonb NOT NULL,
    batches      jsonb NOT NULL,
    totals       jsonb NOT NULL,
    kept_as      text NOT NULL
);
COMMENT ON TABLE period_archive IS 'An archived period: its files (rows, SHA-256), batch roots and totals by county, fund and state';
CREATE FUNCTION period_archive_maker_checker() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE req period_archive_request%ROWTYPE;
BEGIN
    SELECT * INTO req FROM period_archive_request WHERE id = NEW.request_id;
    IF req.period <> NEW.period OR req.requested_by = NEW.approved_by
       OR NOT EXISTS (SELECT 1 FROM app_user u WHERE u.id = NEW.approved_by
                       AND u.bureau_id = req.bureau_id AND u.role = 'admin') THEN
        RAISE EXCEPTION 'period %: archived by the admin who asked, or by one outside the bureau',
            NEW.period USING ERRCODE = '23514', CONSTRAINT = 'period_archive_maker_checker';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER period_archive_maker_checker BEFORE INSERT ON period_archive
    FOR EACH ROW EXECUTE FUNCTION period_archive_maker_checker();
CREATE TRIGGER period_archive_append_only BEFORE UPDATE OR DELETE ON period_archive
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER period_archive_no_truncate BEFORE TRUNCATE ON period_archive
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

-- A partition's index is named after its parent's (payout_one_live_attempt_p202403), so a
-- refusal still names the rule.
CREATE FUNCTION name_partition_indexes(part text) RETURNS void LANGUAGE plpgsql
SET search_path = public, pg_temp AS $$
DECLARE r record;
BEGIN
    FOR r IN SELECT c.relname AS child, pc.relname AS parent FROM pg_index x
               JOIN pg_class c ON c.oid = x.indexrelid
               JOIN pg_inherits i ON i.inhrelid = c.oid JOIN pg_class pc ON pc.oid = i.inhparent
              WHERE x.indrelid = quote_ident(part)::regclass LOOP
        IF r.child <> r.parent || substr(part, length(part) - 7) THEN
            EXECUTE format('ALTER INDEX %I RENAME TO %I', r.child,
                           r.parent || substr(part, length(part) - 7));
        END IF;
    END LOOP;
END $$;

CREATE FUNCTION ensure_period_partition(p char(6)) RETURNS void LANGUAGE plpgsql
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
                EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES IN (%L)', t, part, p);
                PERFORM name_partition_indexes(part);
            END IF;
        END IF;
    END LOOP;
END $$;
REVOKE ALL ON FUNCTION ensure_period_partition(char) FROM PUBLIC;

CREATE FUNCTION payment_batch_partition() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    PERFORM ensure_period_partition(NEW.period);
    RETURN NULL;
END $$;

-- Closing a month makes the partitions of the next three in its own short transaction: making
-- one clones the payout's foreign keys, which holds SHARE ROW EXCLUSIVE on payment_batch,
-- payout_ref, bank, fund and jurisdiction until commit, and the first batch of a month must not
-- hold those (blocking every other build and settlement) for the length of its build.
CREATE FUNCTION fiscal_period_close_partitions() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    PERFORM ensure_period_partition(to_char(to_date(NEW.period, 'YYYYMM') + make_interval(months => n),
                                            'YYYYMM'))
       FROM generate_series(1, 3) n;
    RETURN NULL;
END $$;
CREATE TRIGGER fiscal_period_close_partitions AFTER INSERT ON fiscal_period_close
    FOR EACH ROW EXECUTE FUNCTION fiscal_period_close_partitions();

SELECT ensure_period_partition(period) FROM
    (SELECT period FROM payout_unpartitioned UNION SELECT period FROM payment_batch) p
    ORDER BY period;

INSERT INTO payout SELECT * FROM payout_unpartitioned;
INSERT INTO payout_event SELECT e.*, p.period FROM payout_event_unpartitioned e
    JOIN payout_unpartitioned p ON p.id = e.payout_id;
INSERT INTO payout_ref SELECT id, reference, reissue_of, batch_id, seq, period
    FROM payout_unpartitioned;
ALTER SEQUENCE payout_id_seq OWNED BY NONE;
ALTER SEQUENCE payout_event_id_seq OWNED BY NONE;
DROP TABLE payout_event_unpartitioned, payout_unpartitioned;
ALTER SEQUENCE payout_id_seq OWNED BY payout.id;
ALTER SEQUENCE payout_event_id_seq OWNED BY payout_event.id;

ALTER TABLE payout ADD CONSTRAINT payout_pkey PRIMARY KEY (id, period),
    ADD CONSTRAINT payout_bank_code_fkey FOREIGN KEY (bank_code) REFERENCES bank(code),
    ADD CONSTRAINT payout_batch_id_fkey FOREIGN KEY (batch_id) REFERENCES payment_batch(id),
    ADD CONSTRAINT payout_county_code_fkey FOREIGN KEY (county_code) REFERENCES jurisdiction(code),
    ADD CONSTRAINT payout_fund_code_fkey FOREIGN KEY (fund_code) REFERENCES fund(code),
    ADD CONSTRAINT payout_reissue_of_fkey FOREIGN KEY (reissue_of) REFERENCES payout_ref(id);
CREATE INDEX payout_batch_seq_idx ON payout (batch_id, seq);
CREATE INDEX payout_reference_idx ON payout (reference);
CREATE INDEX payout_reissue_of_idx ON payout (reissue_of) WHERE reissue_of IS NOT NULL;
CREATE UNIQUE INDEX payout_one_live_attempt ON payout (person_key, fund_code, period)
    WHERE state IN ('draft','sent','paid');
CREATE INDEX payout_county_fund_idx ON payout (county_code, fund_code);
ALTER TABLE payout_event ADD CONSTRAINT payout_event_pkey PRIMARY KEY (id, period);
CREATE INDEX payout_event_payout_idx ON payout_event (payout_id);
{_fks("payout_ref")}
SELECT name_partition_indexes(c.relname) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
 WHERE i.inhparent IN ('payout'::regclass, 'payout_event'::regclass);

-- The registry: the keys that must be unique over every period, archived ones included.
CREATE FUNCTION payout_ref_insert() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    INSERT INTO payout_ref (id, reference, reissue_of, batch_id, seq, period)
    SELECT id, reference, reissue_of, batch_id, seq, period FROM new_payout;
    RETURN NULL;
END $$;
CREATE FUNCTION payout_ref_update() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE c record;
BEGIN
    -- Only a draft may change these (the payout guard refuses it on a released line), and only
    -- a cancel does (its reissues' reissue_of → NULL): a settlement or a release finds no row
    -- in the in-memory join and never touches the registry.
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
-- Named to fire first (triggers of one event fire by name): the guard's events name the payout.
CREATE TRIGGER payout_00_ref_insert AFTER INSERT ON payout REFERENCING NEW TABLE AS new_payout
    FOR EACH STATEMENT EXECUTE FUNCTION payout_ref_insert();
CREATE TRIGGER payout_00_ref_update AFTER UPDATE ON payout
    REFERENCING OLD TABLE AS old_payout NEW TABLE AS new_payout
    FOR EACH STATEMENT EXECUTE FUNCTION payout_ref_update();
CREATE TRIGGER payout_ref_no_delete BEFORE DELETE ON payout_ref
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER payout_ref_no_truncate BEFORE TRUNCATE ON payout_ref
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

CREATE TRIGGER payout_guard_insert AFTER INSERT ON payout REFERENCING NEW TABLE AS new_payout
    FOR EACH STATEMENT EXECUTE FUNCTION payout_guard_insert();
CREATE TRIGGER payout_guard_update AFTER UPDATE ON payout
    REFERENCING OLD TABLE AS old_payout NEW TABLE AS new_payout
    FOR EACH STATEMENT EXECUTE FUNCTION payout_guard_update();
CREATE TRIGGER payout_id_fixed BEFORE UPDATE OF id ON payout
    FOR EACH ROW EXECUTE FUNCTION payout_id_fixed();
CREATE TRIGGER payout_no_delete BEFORE DELETE ON payout FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER payout_no_truncate BEFORE TRUNCATE ON payout
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
CREATE TRIGGER payout_refs_insert AFTER INSERT ON payout REFERENCING NEW TABLE AS new_payout
    FOR EACH STATEMENT EXECUTE FUNCTION payout_refs_check();
CREATE TRIGGER payout_refs_update AFTER UPDATE ON payout REFERENCING NEW TABLE AS new_payout
    FOR EACH STATEMENT EXECUTE FUNCTION payout_refs_check();

CREATE OR REPLACE FUNCTION payout_event_refs_check() RETURNS trigger LANGUAGE plpgsql AS $$
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
CREATE TRIGGER payout_event_append_only BEFORE UPDATE OR DELETE ON payout_event
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER payout_event_no_truncate BEFORE TRUNCATE ON payout_event
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
CREATE TRIGGER payout_event_refs AFTER INSERT ON payout_event REFERENCING NEW TABLE AS new_event
    FOR EACH STATEMENT EXECUTE FUNCTION payout_event_refs_check();

CREATE TRIGGER payment_batch_partition AFTER INSERT ON payment_batch
    FOR EACH ROW EXECUTE FUNCTION payment_batch_partition();

-- Refuse a period that is open or unsettled; hold its partitions still while they are copied.
CREATE FUNCTION lock_period_for_archive(p char(6)) RETURNS void LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF to_regclass(quote_ident('payout_p' || p)) IS NULL THEN
        RAISE EXCEPTION 'period % has no live partition', p USING ERRCODE = 'P0001';
    END IF;
    EXECUTE format('LOCK TABLE %I, %I IN SHARE MODE', 'payout_p' || p, 'payout_event_p' || p);
    PERFORM archive_period_check(p);
END $$;

CREATE FUNCTION archive_period_check(p char(6)) RETURNS void LANGUAGE plpgsql
SET search_path = public, pg_temp AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM fiscal_period_close WHERE period = p) THEN
        RAISE EXCEPTION 'period % is open: only a closed period is archived', p
            USING ERRCODE = 'P0001', CONSTRAINT = 'period_open';
    END IF;
    IF EXISTS (SELECT 1 FROM payout WHERE period = p
                AND state IN ('draft', 'sent', 'failed', 'returned')) THEN
        RAISE EXCEPTION 'period % has payouts not settled or awaiting reissue', p
            USING ERRCODE = 'P0001', CONSTRAINT = 'period_unsettled';
    END IF;
END $$;

-- Detach a recorded period: its partitions leave the live tables for the schema archive.
CREATE FUNCTION archive_period_partitions(p char(6)) RETURNS text LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE rec period_archive%ROWTYPE; n bigint; m bigint; t text;
BEGIN
    SELECT * INTO rec FROM period_archive WHERE period = p;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'period % has no archive record', p USING ERRCODE = 'P0001';
    END IF;
    PERFORM archive_period_check(p);
    IF to_regclass(quote_ident('payout_p' || p)) IS NULL THEN
        RAISE EXCEPTION 'period % has no live partition', p USING ERRCODE = 'P0001';
    END IF;
    EXECUTE format('SELECT count(*) FROM %I', 'payout_p' || p) INTO n;
    EXECUTE format('SELECT count(*) FROM %I', 'payout_event_p' || p) INTO m;
    IF n <> rec.payout_count OR m <> rec.event_count THEN
        RAISE EXCEPTION 'period %: the record counts % payouts and % events, the partitions hold % and %',
            p, rec.payout_count, rec.event_count, n, m USING ERRCODE = 'P0001';
    END IF;
    FOREACH t IN ARRAY ARRAY['payout', 'payout_event'] LOOP
        EXECUTE format('ALTER TABLE %I DETACH PARTITION %I', t, t || '_p' || p);
        EXECUTE format('ALTER TABLE %I SET SCHEMA archive', t || '_p' || p);
        EXECUTE format('CREATE TRIGGER archived_append_only BEFORE UPDATE OR DELETE ON archive.%I '
                       'FOR EACH ROW EXECUTE FUNCTION public.refuse_change()', t || '_p' || p);
        EXECUTE format('CREATE TRIGGER archived_no_truncate BEFORE TRUNCATE ON archive.%I '
                       'FOR EACH STATEMENT EXECUTE FUNCTION public.refuse_change()', t || '_p' || p);
    END LOOP;
    RETURN 'archive.payout_p' || p;
END $$;
"""


def _guards() -> str:
    """The payout guard of 0017, writing each event's period (its payout's)."""
    here = Path(__file__).parent
    spec = importlib.util.spec_from_file_location("_rev_0017", here / "0017_payout_proofs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    update = str(module.guard())
    update = update.replace(
        "INSERT INTO payout_event (payout_id, from_state, to_state, entry_id, source, line_digest)",
        "INSERT INTO payout_event (payout_id, period, from_state, to_state, entry_id, source, "
        "line_digest)",
    ).replace("SELECT n.id, o.state,", "SELECT n.id, n.period, o.state,")
    assert "n.id, n.period, o.state" in update
    return update + INSERT_GUARD


INSERT_GUARD = r"""
CREATE OR REPLACE FUNCTION payout_guard_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM new_payout WHERE state <> 'draft') THEN
        RAISE EXCEPTION 'payouts are created as draft' USING ERRCODE = '23514';
    END IF;
    INSERT INTO payout_event (payout_id, period, from_state, to_state, entry_id, source)
    SELECT id, period, NULL, state, last_entry_id, current_setting('ledger.source', true)
      FROM new_payout;
    RETURN NULL;
END $$;
"""

PREVIOUS_INSERT_GUARD = r"""
CREATE OR REPLACE FUNCTION payout_guard_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM new_payout WHERE state <> 'draft') THEN
        RAISE EXCEPTION 'payouts are created as draft' USING ERRCODE = '23514';
    END IF;
    INSERT INTO payout_event (payout_id, from_state, to_state, entry_id, source)
    SELECT id, NULL, state, last_entry_id, current_setting('ledger.source', true) FROM new_payout;
    RETURN NULL;
END $$;
"""

REFUSE_DOWNGRADE = r"""
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM period_archive) THEN
        RAISE EXCEPTION 'periods are archived (period_archive): re-attach them before downgrading';
    END IF;
END $$;
"""

DOWNGRADE = rf"""
DROP TRIGGER payment_batch_partition ON payment_batch;
DROP FUNCTION payment_batch_partition();
DROP TRIGGER fiscal_period_close_partitions ON fiscal_period_close;
DROP FUNCTION fiscal_period_close_partitions();
{_drop_fks()}
ALTER TABLE payout RENAME TO payout_partitioned;
ALTER TABLE payout_event RENAME TO payout_event_partitioned;
CREATE TABLE payout (LIKE payout_partitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS
    INCLUDING COMMENTS INCLUDING STORAGE);
CREATE TABLE payout_event (LIKE payout_event_partitioned INCLUDING DEFAULTS
    INCLUDING CONSTRAINTS INCLUDING COMMENTS INCLUDING STORAGE);
ALTER TABLE payout_event DROP COLUMN period;
INSERT INTO payout SELECT * FROM payout_partitioned;
INSERT INTO payout_event (id, payout_id, from_state, to_state, entry_id, source, at, line_digest)
    SELECT id, payout_id, from_state, to_state, entry_id, source, at, line_digest
      FROM payout_event_partitioned;
ALTER SEQUENCE payout_id_seq OWNED BY NONE;
ALTER SEQUENCE payout_event_id_seq OWNED BY NONE;
DROP TABLE payout_event_partitioned, payout_partitioned, payout_ref, period_archive,
    period_archive_request CASCADE;
DROP FUNCTION period_archive_maker_checker();
DROP FUNCTION archive_period_partitions(char), ensure_period_partition(char),
    lock_period_for_archive(char), archive_period_check(char),
    name_partition_indexes(text),
    payout_ref_insert(), payout_ref_update();
DROP SCHEMA archive CASCADE;
ALTER SEQUENCE payout_id_seq OWNED BY payout.id;
ALTER SEQUENCE payout_event_id_seq OWNED BY payout_event.id;

ALTER TABLE payout ADD CONSTRAINT payout_pkey PRIMARY KEY (id),
    ADD CONSTRAINT payout_batch_id_seq_key UNIQUE (batch_id, seq),
    ADD CONSTRAINT payout_reference_key UNIQUE (reference),
    ADD CONSTRAINT payout_reissue_of_key UNIQUE (reissue_of),
    ADD CONSTRAINT payout_bank_code_fkey FOREIGN KEY (bank_code) REFERENCES bank(code),
    ADD CONSTRAINT payout_batch_id_fkey FOREIGN KEY (batch_id) REFERENCES payment_batch(id),
    ADD CONSTRAINT payout_county_code_fkey FOREIGN KEY (county_code) REFERENCES jurisdiction(code),
    ADD CONSTRAINT payout_fund_code_fkey FOREIGN KEY (fund_code) REFERENCES fund(code),
    ADD CONSTRAINT payout_reissue_of_fkey FOREIGN KEY (reissue_of) REFERENCES payout(id);
CREATE UNIQUE INDEX payout_one_live_attempt ON payout (person_key, fund_code, period)
    WHERE state IN ('draft','sent','paid');
CREATE INDEX payout_county_fund_idx ON payout (county_code, fund_code);
ALTER TABLE payout_event ADD CONSTRAINT payout_event_pkey PRIMARY KEY (id);
CREATE INDEX payout_event_payout_idx ON payout_event (payout_id);
{_fks("payout")}

CREATE OR REPLACE FUNCTION payout_event_refs_check() RETURNS trigger LANGUAGE plpgsql AS $$
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
CREATE TRIGGER payout_event_append_only BEFORE UPDATE OR DELETE ON payout_event
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER payout_event_no_truncate BEFORE TRUNCATE ON payout_event
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
CREATE TRIGGER payout_event_refs AFTER INSERT ON payout_event REFERENCING NEW TABLE AS new_event
    FOR EACH STATEMENT EXECUTE FUNCTION payout_event_refs_check();
CREATE TRIGGER payout_guard_insert AFTER INSERT ON payout REFERENCING NEW TABLE AS new_payout
    FOR EACH STATEMENT EXECUTE FUNCTION payout_guard_insert();
CREATE TRIGGER payout_guard_update AFTER UPDATE ON payout
    REFERENCING OLD TABLE AS old_payout NEW TABLE AS new_payout
    FOR EACH STATEMENT EXECUTE FUNCTION payout_guard_update();
CREATE TRIGGER payout_id_fixed BEFORE UPDATE OF id ON payout
    FOR EACH ROW EXECUTE FUNCTION payout_id_fixed();
CREATE TRIGGER payout_no_delete BEFORE DELETE ON payout FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER payout_no_truncate BEFORE TRUNCATE ON payout
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
CREATE TRIGGER payout_refs_insert AFTER INSERT ON payout REFERENCING NEW TABLE AS new_payout
    FOR EACH STATEMENT EXECUTE FUNCTION payout_refs_check();
CREATE TRIGGER payout_refs_update AFTER UPDATE ON payout REFERENCING NEW TABLE AS new_payout
    FOR EACH STATEMENT EXECUTE FUNCTION payout_refs_check();
"""


def _evidence() -> ModuleType:
    here = Path(__file__).parent
    spec = importlib.util.spec_from_file_location("_rev_0012", here / "0012_evidence.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def upgrade() -> None:
    op.execute(UPGRADE)
    op.execute(_guards())
    evidence = _evidence()
    op.execute(evidence.KIND_TEMPLATE.format(kind="period_archive", columns=ARCHIVE_DIGEST))


def downgrade() -> None:
    op.execute(REFUSE_DOWNGRADE)
    evidence = _evidence()
    op.execute(evidence.KIND_DOWNGRADE.format(kind="period_archive"))
    op.execute("DELETE FROM evidence_head WHERE kind = 'period_archive'")
    here = Path(__file__).parent
    spec = importlib.util.spec_from_file_location("_rev_0017", here / "0017_payout_proofs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    op.execute(str(module.guard()))
    op.execute(PREVIOUS_INSERT_GUARD)
    op.execute(DOWNGRADE)
