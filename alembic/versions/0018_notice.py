"""The notice's own records around the money: household reviews (动态复核), holdings reported by
banks, securities firms and insurers (家庭经济状况核对) and the dated asset limits they are
judged against.

Revision ID: 0018_notice
Revises: 0013_jobs
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlmodel.sql.sqltypes  # noqa: F401

from alembic import op

revision: str = "0018_notice"
down_revision: str | Sequence[str] | None = "0013_jobs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KINDS = "'roster','standards','deaths','public_payroll','staff_relatives'"

UPGRADE = rf"""
ALTER TABLE register_import DROP CONSTRAINT register_import_kind_check;
ALTER TABLE register_import ADD CONSTRAINT register_import_kind_check
    CHECK (kind IN ({_KINDS},'reviews','holdings','asset_limits'));

-- A review of a household: an information check (信息化核对, at least every six months) or a
-- home visit (入户调查, at least yearly). From a register import, or written one by one
-- (import_id NULL). assets_fen is what an information check found (0: none); NULL for a visit.
CREATE TABLE household_review (
    id           bigserial PRIMARY KEY,
    import_id    bigint REFERENCES register_import(id),
    county_code  char(6) NOT NULL REFERENCES jurisdiction(code),
    household_id text NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('information_check', 'home_visit')),
    reviewed_on  date NOT NULL,
    outcome      text NOT NULL,
    reviewer     text NOT NULL,
    assets_fen   bigint CHECK (assets_fen >= 0),
    recorded_by  text NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (kind = 'information_check' OR assets_fen IS NULL)
);
CREATE INDEX household_review_idx ON household_review (county_code, household_id, kind, reviewed_on);

-- A balance or value an institution reported for a person as of a date. Cumulative: the value
-- of an account as of a day is its latest report on or before that day.
CREATE TABLE holding (
    id               bigserial PRIMARY KEY,
    import_id        bigint NOT NULL REFERENCES register_import(id),
    person_key       char(64) NOT NULL,
    id_masked        text NOT NULL,
    name             text NOT NULL,
    institution_kind text NOT NULL CHECK (institution_kind IN ('bank', 'securities', 'insurer')),
    institution      text NOT NULL,
    account_key      char(64) NOT NULL,
    account_masked   text NOT NULL,
    value_fen        bigint NOT NULL CHECK (value_fen >= 0),
    as_of            date NOT NULL
);
CREATE INDEX holding_person_idx ON holding (person_key, institution, account_key, as_of DESC);

-- 资产限额: the financial assets a household may hold per member, dated per jurisdiction and fund.
CREATE TABLE asset_limit (
    id                bigserial PRIMARY KEY,
    import_id         bigint NOT NULL REFERENCES register_import(id),
    jurisdiction_code char(6) NOT NULL REFERENCES jurisdiction(code),
    fund_code         text NOT NULL REFERENCES fund(code),
    effective_from    char(6) NOT NULL CHECK (effective_from ~ '^[0-9]{{4}}(0[1-9]|1[0-2])$'),
    per_person_fen    bigint NOT NULL CHECK (per_person_fen >= 0)
);
CREATE INDEX asset_limit_idx
    ON asset_limit (jurisdiction_code, fund_code, effective_from DESC, id DESC);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['household_review', 'holding', 'asset_limit'] LOOP
        EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE OR DELETE ON %I '
                       'FOR EACH ROW EXECUTE FUNCTION refuse_change()', t || '_append_only', t);
        EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON %I '
                       'FOR EACH STATEMENT EXECUTE FUNCTION refuse_change()', t || '_no_truncate', t);
    END LOOP;
END $$;
"""

DOWNGRADE = rf"""
DROP TABLE asset_limit, holding, household_review;
DELETE FROM register_import WHERE kind IN ('reviews', 'holdings', 'asset_limits');
ALTER TABLE register_import DROP CONSTRAINT register_import_kind_check;
ALTER TABLE register_import ADD CONSTRAINT register_import_kind_check CHECK (kind IN ({_KINDS}));
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
