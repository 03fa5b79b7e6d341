"""The roster (versioned by effective period), the registers the checks read, payout references.

Revision ID: 0003_roster
Revises: 0001_core
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlmodel.sql.sqltypes  # noqa: F401

from alembic import op

revision: str = "0003_roster"
down_revision: str | Sequence[str] | None = "0001_core"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = r"""
-- Every accepted upload (roster or register), stored as a fingerprint: who, when, which bytes.
CREATE TABLE register_import (
    id                bigserial PRIMARY KEY,
    kind              text NOT NULL CHECK (kind IN ('roster','standards','deaths','public_payroll',
                                                     'staff_relatives')),
    jurisdiction_code char(6) NOT NULL REFERENCES jurisdiction(code),
    effective_period  char(6) CHECK (effective_period ~ '^[0-9]{4}(0[1-9]|1[0-2])$'),
    filename          text NOT NULL DEFAULT '',
    sha256            char(64) NOT NULL,
    row_count         integer NOT NULL,
    imported_by       text NOT NULL,
    imported_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX register_import_kind_idx ON register_import (kind, jurisdiction_code, id);

-- The roster as versions: a row says "from valid_from on, this person's entitlement in this fund
-- and county is ..." (active) or "... has ended" (not active). The version that applies to a
-- period is the newest with valid_from <= period. Rows are never changed, so history is kept.
-- The ID number itself is never stored: person_key is its keyed HMAC, id_masked is for display.
CREATE TABLE roster_version (
    id             bigserial PRIMARY KEY,
    import_id      bigint NOT NULL REFERENCES register_import(id),
    county_code    char(6) NOT NULL REFERENCES jurisdiction(code),
    fund_code      text NOT NULL REFERENCES fund(code),
    person_key     char(64) NOT NULL,
    valid_from     char(6) NOT NULL CHECK (valid_from ~ '^[0-9]{4}(0[1-9]|1[0-2])$'),
    active         boolean NOT NULL,
    id_masked      text NOT NULL,
    household_id   text NOT NULL,
    payee_name     text NOT NULL,
    township       text NOT NULL DEFAULT '',
    village        text NOT NULL DEFAULT '',
    household_size smallint NOT NULL CHECK (household_size > 0),
    amount_fen     bigint NOT NULL CHECK (amount_fen > 0),
    bank_code      text NOT NULL REFERENCES bank(code),
    account_no     text NOT NULL,
    account_name   text NOT NULL,
    start_period   char(6) NOT NULL,
    end_period     char(6),
    CHECK (end_period IS NULL OR end_period >= start_period)
);
CREATE INDEX roster_version_current_idx
    ON roster_version (county_code, fund_code, person_key, valid_from DESC, id DESC);
CREATE INDEX roster_version_person_idx ON roster_version (person_key);

-- 保障标准: the monthly standard per person, dated per jurisdiction and fund.
CREATE TABLE benefit_standard (
    id                bigserial PRIMARY KEY,
    import_id         bigint NOT NULL REFERENCES register_import(id),
    jurisdiction_code char(6) NOT NULL REFERENCES jurisdiction(code),
    fund_code         text NOT NULL REFERENCES fund(code),
    effective_from    char(6) NOT NULL CHECK (effective_from ~ '^[0-9]{4}(0[1-9]|1[0-2])$'),
    monthly_fen       bigint NOT NULL CHECK (monthly_fen > 0)
);
CREATE INDEX benefit_standard_idx
    ON benefit_standard (jurisdiction_code, fund_code, effective_from DESC, id DESC);

CREATE TABLE death_record (
    id            bigserial PRIMARY KEY,
    import_id     bigint NOT NULL REFERENCES register_import(id),
    person_key    char(64) NOT NULL,
    id_masked     text NOT NULL,
    name          text NOT NULL,
    date_of_death date NOT NULL
);
CREATE INDEX death_record_person_idx ON death_record (person_key);

-- Payroll and staff-relative lists are snapshots: the newest import per jurisdiction is current.
CREATE TABLE public_payroll (
    id         bigserial PRIMARY KEY,
    import_id  bigint NOT NULL REFERENCES register_import(id),
    person_key char(64) NOT NULL,
    id_masked  text NOT NULL,
    name       text NOT NULL,
    employer   text NOT NULL
);
CREATE INDEX public_payroll_person_idx ON public_payroll (person_key);

CREATE TABLE staff_relative (
    id                  bigserial PRIMARY KEY,
    import_id           bigint NOT NULL REFERENCES register_import(id),
    staff_person_key    char(64) NOT NULL,
    staff_name          text NOT NULL,
    relative_person_key char(64) NOT NULL,
    relative_id_masked  text NOT NULL,
    relative_name       text NOT NULL,
    relation            text NOT NULL,
    filed               boolean NOT NULL,
    filing_date         date
);
CREATE INDEX staff_relative_person_idx ON staff_relative (relative_person_key);

-- Programs one person may not receive together (configurable: rows here are the configuration).
CREATE TABLE program_exclusion (
    -- Fund codes without a foreign key: the fund catalog is seeded after the migrations.
    fund_a text NOT NULL,
    fund_b text NOT NULL,
    PRIMARY KEY (fund_a, fund_b),
    CHECK (fund_a < fund_b)
);
INSERT INTO program_exclusion VALUES
    ('rural_minimum_living', 'urban_minimum_living'),
    ('rural_destitute_support', 'urban_destitute_support'),
    ('urban_destitute_support', 'urban_minimum_living'),
    ('rural_destitute_support', 'rural_minimum_living'),
    ('rural_minimum_living', 'urban_destitute_support'),
    ('rural_destitute_support', 'urban_minimum_living');

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['register_import','roster_version','benefit_standard','death_record',
                             'public_payroll','staff_relative'] LOOP
        EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE OR DELETE ON %I '
                       'FOR EACH ROW EXECUTE FUNCTION refuse_change()', t || '_append_only', t);
        EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON %I '
                       'FOR EACH STATEMENT EXECUTE FUNCTION refuse_change()', t || '_no_truncate', t);
    END LOOP;
END $$;

-- Payout references: 9 base-36 digits of a sequence and a check character whose weights are
-- all prime to 36, so any single mistyped character is caught. 10 characters fit every bank.
CREATE SEQUENCE payout_reference_seq CACHE 1000;
CREATE FUNCTION payout_reference(n bigint) RETURNS text LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
    alphabet constant text := '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ';
    weights constant int[] := ARRAY[1, 5, 7, 11, 13, 17, 19, 23, 25];
    body text := '';
    v bigint := n;
    s int := 0;
    d int;
BEGIN
    IF n < 0 OR n >= 101559956668416 THEN
        RAISE EXCEPTION 'payout reference number % out of range', n;
    END IF;
    FOR i IN REVERSE 9..1 LOOP
        d := (v % 36)::int;
        body := substr(alphabet, d + 1, 1) || body;
        s := s + d * weights[i];
        v := v / 36;
    END LOOP;
    RETURN body || substr(alphabet, s % 36 + 1, 1);
END $$;
"""

DOWNGRADE = r"""
DROP FUNCTION payout_reference(bigint);
DROP SEQUENCE payout_reference_seq;
DROP TABLE program_exclusion, staff_relative, public_payroll, death_record, benefit_standard,
    roster_version, register_import;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
