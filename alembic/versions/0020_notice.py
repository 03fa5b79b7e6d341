"""The notice's own records around the money: household reviews (动态复核), holdings reported by
banks, securities firms and insurers (家庭经济状况核对) and the dated asset limits they are
judged against; complaints and reports (举报核查) with their working-day deadlines.

Revision ID: 0020_notice
Revises: 0019_trace
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlmodel.sql.sqltypes  # noqa: F401

from alembic import op

revision: str = "0020_notice"
down_revision: str | Sequence[str] | None = "0019_trace"
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

-- Days that are not working days besides weekends (法定节假日); a small configuration table.
CREATE TABLE holiday (
    day  date PRIMARY KEY,
    name text NOT NULL
);

-- 投诉举报: what it concerns, who handles it, the deadline (working days from receipt), how it
-- ended. ``reference`` is what a public submitter gets back to follow the status.
CREATE TABLE complaint (
    id                bigserial PRIMARY KEY,
    reference         varchar(16) NOT NULL UNIQUE,
    channel           text NOT NULL CHECK (channel IN ('hotline', 'letter', 'visit', 'web')),
    received_on       date NOT NULL,
    jurisdiction_code char(6) NOT NULL REFERENCES jurisdiction(code),
    concerns          text NOT NULL CHECK (concerns IN ('person', 'household', 'jurisdiction', 'batch')),
    person_key        char(64),
    household_id      text,
    batch_id          bigint REFERENCES payment_batch(id),
    content           text NOT NULL CHECK (length(content) BETWEEN 1 AND 5000),
    handler           text,
    deadline          date NOT NULL CHECK (deadline >= received_on),
    outcome           text,
    closed_on         date,
    closed_by         text,
    created_by        text NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    CHECK (concerns <> 'person' OR person_key IS NOT NULL),
    CHECK (concerns <> 'household' OR household_id IS NOT NULL),
    CHECK (concerns <> 'batch' OR batch_id IS NOT NULL),
    CHECK ((closed_on IS NULL) = (outcome IS NULL) AND (closed_on IS NULL) = (closed_by IS NULL)),
    CHECK (closed_on IS NULL OR closed_on >= received_on)
);
CREATE INDEX complaint_scope_idx ON complaint (jurisdiction_code, received_on);
CREATE INDEX complaint_person_idx ON complaint (person_key) WHERE person_key IS NOT NULL;

-- A closed complaint does not reopen or change.
CREATE FUNCTION complaint_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.closed_on IS NOT NULL THEN
        RAISE EXCEPTION 'complaint % is closed and does not change', OLD.id;
    END IF;
    IF (NEW.reference, NEW.channel, NEW.received_on, NEW.jurisdiction_code, NEW.concerns,
        NEW.content, NEW.created_by) IS DISTINCT FROM (OLD.reference, OLD.channel,
        OLD.received_on, OLD.jurisdiction_code, OLD.concerns, OLD.content, OLD.created_by) THEN
        RAISE EXCEPTION 'what complaint % says and when it came are kept as received', OLD.id;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER complaint_guard BEFORE UPDATE ON complaint
    FOR EACH ROW EXECUTE FUNCTION complaint_guard();

-- The findings a complaint opened or closed.
CREATE TABLE complaint_finding (
    complaint_id bigint NOT NULL REFERENCES complaint(id),
    finding_id   bigint NOT NULL REFERENCES finding(id),
    relation     text NOT NULL CHECK (relation IN ('opened', 'closed')),
    PRIMARY KEY (complaint_id, finding_id, relation)
);

-- Unauthenticated submissions, per client address: the rate limit counts these.
CREATE TABLE public_submission (
    id           bigserial PRIMARY KEY,
    client_addr  text NOT NULL,
    complaint_id bigint REFERENCES complaint(id),
    submitted_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX public_submission_addr_idx ON public_submission (client_addr, submitted_at);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['household_review', 'holding', 'asset_limit', 'complaint_finding',
                             'public_submission'] LOOP
        EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE OR DELETE ON %I '
                       'FOR EACH ROW EXECUTE FUNCTION refuse_change()', t || '_append_only', t);
        EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON %I '
                       'FOR EACH STATEMENT EXECUTE FUNCTION refuse_change()', t || '_no_truncate', t);
    END LOOP;
END $$;
"""

DOWNGRADE = rf"""
DROP TABLE public_submission, complaint_finding, complaint, holiday, asset_limit, holding,
    household_review;
DROP FUNCTION complaint_guard();
DELETE FROM register_import WHERE kind IN ('reviews', 'holdings', 'asset_limits');
ALTER TABLE register_import DROP CONSTRAINT register_import_kind_check;
ALTER TABLE register_import ADD CONSTRAINT register_import_kind_check CHECK (kind IN ({_KINDS}));
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
