"""Tamper evidence beyond the journal: a hash chain over audit_log, and the digest of each payout
line recorded when it is sent, so that ``verify`` can name the row that was changed.

Revision ID: 0006_integrity
Revises: 0001_core
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlmodel.sql.sqltypes  # noqa: F401
from alembic import op

revision: str = "0006_integrity"
down_revision: str | Sequence[str] | None = "0001_core"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The leaf text must equal ledger.domain.payout_leaf(): fields joined by U+001F, UTF-8.
PAYOUT_LEAF_SQL = (
    "sha256('\\x00'::bytea || convert_to(concat_ws(chr(31), {p}.seq::text, {p}.reference, {p}.person_key, "
    "{p}.account_no, {p}.account_name, {p}.payee_name, {p}.amount_fen::text), 'UTF8'))"
)

UPGRADE = r"""
CREATE TABLE audit_chain_head (
    id   boolean PRIMARY KEY DEFAULT true CHECK (id),
    seq  bigint NOT NULL,
    hash char(64) NOT NULL
);
INSERT INTO audit_chain_head VALUES (true, 0, repeat('0', 64));
ALTER TABLE audit_log ADD COLUMN seq bigint UNIQUE, ADD COLUMN prev_hash char(64), ADD COLUMN hash char(64);

CREATE FUNCTION audit_log_digest(r audit_log) RETURNS char(64) LANGUAGE sql IMMUTABLE AS $$
    SELECT encode(sha256(convert_to(concat_ws(chr(31), r.seq::text, r.prev_hash,
        to_char(r.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'), coalesce(r.user_id::text, ''),
        coalesce(r.username, ''), coalesce(r.bureau_id::text, ''), coalesce(r.role, ''), r.action,
        coalesce(r.object_type, ''), coalesce(r.object_id, ''), coalesce(r.request_id, ''),
        coalesce(r.client_addr, ''), r.outcome, coalesce(r.status_code::text, ''), r.detail::text), 'UTF8')), 'hex')
$$;

-- Rows are chained in the order they take the head's lock; seq records that order.
CREATE FUNCTION audit_log_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE head audit_chain_head%ROWTYPE;
BEGIN
    SELECT * INTO head FROM audit_chain_head FOR UPDATE;
    NEW.seq := head.seq + 1;
    NEW.prev_hash := head.hash;
    NEW.hash := audit_log_digest(NEW);
    UPDATE audit_chain_head SET seq = NEW.seq, hash = NEW.hash;
    RETURN NEW;
END $$;
CREATE TRIGGER audit_log_chain BEFORE INSERT ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_chain();

ALTER TABLE payout_event ADD COLUMN line_digest char(64);

"""

GUARD_TEMPLATE = r"""
CREATE OR REPLACE FUNCTION payout_guard_update() RETURNS trigger LANGUAGE plpgsql
-- The transition tables carry no statistics; a nested loop over them makes a million-row
-- update quadratic. A hash join keeps it linear.
SET enable_nestloop = off AS $$
DECLARE bad record;
BEGIN
    SELECT o.id, o.state AS old_state, n.state AS new_state INTO bad
      FROM old_payout o JOIN new_payout n USING (id)
     WHERE n.state <> o.state AND NOT (
            (o.state = 'draft' AND n.state IN ('sent','cancelled')) OR
            (o.state = 'sent' AND n.state IN ('paid','failed')) OR
            (o.state = 'paid' AND n.state = 'returned') OR
            (o.state IN ('failed','returned') AND n.state = 'reissued'))
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'payout % cannot move from % to %', bad.id, bad.old_state, bad.new_state
            USING ERRCODE = '23514', CONSTRAINT = 'payout_transition';
    END IF;
    SELECT o.id INTO bad
      FROM old_payout o JOIN new_payout n USING (id)
     WHERE o.state <> 'draft' AND
           (n.amount_fen, n.account_no, n.account_name, n.payee_name, n.reference, n.person_key,
            n.batch_id, n.seq, n.county_code, n.fund_code, n.period)
           IS DISTINCT FROM
           (o.amount_fen, o.account_no, o.account_name, o.payee_name, o.reference, o.person_key,
            o.batch_id, o.seq, o.county_code, o.fund_code, o.period)
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'payout % was released: its line cannot change', bad.id
            USING ERRCODE = '42501';
    END IF;
    INSERT INTO payout_event (payout_id, from_state, to_state, entry_id, source{col})
    SELECT n.id, o.state, n.state, n.last_entry_id, current_setting('ledger.source', true){val}
      FROM old_payout o JOIN new_payout n USING (id)
     WHERE n.state <> o.state;
    RETURN NULL;
END $$;
"""

GUARD_WITH_DIGEST = GUARD_TEMPLATE.format(
    col=", line_digest",
    val=",\n           CASE WHEN n.state = 'sent' THEN encode("
    + PAYOUT_LEAF_SQL.format(p="n")
    + ", 'hex') END",
)
GUARD_PLAIN = GUARD_TEMPLATE.format(col="", val="")

DOWNGRADE = r"""
DROP TRIGGER audit_log_chain ON audit_log;
DROP FUNCTION audit_log_chain();
DROP FUNCTION audit_log_digest(audit_log);
ALTER TABLE audit_log DROP COLUMN seq, DROP COLUMN prev_hash, DROP COLUMN hash;
DROP TABLE audit_chain_head;
ALTER TABLE payout_event DROP COLUMN line_digest;
"""


def upgrade() -> None:
    op.execute(UPGRADE)
    op.execute(GUARD_WITH_DIGEST)


def downgrade() -> None:
    op.execute(GUARD_PLAIN)
    op.execute(DOWNGRADE)
