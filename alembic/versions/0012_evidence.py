"""Evidence outside the database: the journal's RFC 9162 Merkle tree, signed checkpoints, and a
hash chain over every other kind of evidence (bank files, report records, finding runs, fund
documents) whose heads enter each checkpoint.

Revision ID: 0012_evidence
Revises: 0011_four_eyes
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlmodel.sql.sqltypes  # noqa: F401
from alembic import op

revision: str = "0012_evidence"
down_revision: str | Sequence[str] | None = "0011_four_eyes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# What each chained row commits to. jsonb::text is canonical (keys sorted, one spacing), and
# timestamps are written in UTC, so the digest does not depend on the session's time zone.
_TS = "to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US')"
EVIDENCE_DIGESTS = {
    "bank_file": (
        "r.id::text, r.sha256, encode(sha256(r.content), 'hex'), r.size_bytes::text, r.kind, "
        "r.bank_code, coalesce(r.batch_id::text, ''), coalesce(r.county_code, ''), "
        "coalesce(r.fund_code, ''), r.filename, r.uploaded_by, " + _TS.format("r.uploaded_at") + ", "
        "r.status, r.line_count::text, r.total_fen::text, r.counts::text, "
        "encode(sha256(convert_to(r.result::text, 'UTF8')), 'hex')"
    ),
    "report_record": (
        "r.id::text, r.kind, r.jurisdiction_code, coalesce(r.fund_code, ''), r.period, "
        "r.parameters::text, r.sha256, r.size_bytes::text, r.chain_head, r.generated_by, "
        + _TS.format("r.generated_at")
    ),
    "finding_run": (
        "r.id, r.jurisdiction_code, r.period, r.as_of::text, r.thresholds::text, "
        "r.finding_count::text, r.chain_head, r.run_by, " + _TS.format("r.run_at")
    ),
    # What a document says (its amount above all); its approval is in the journal entry it posts.
    "fund_document": (
        "r.id::text, r.doc_type, r.number, r.bureau_id::text, r.jurisdiction_code, "
        "coalesce(r.to_jurisdiction, ''), r.fund_code, coalesce(r.to_fund_code, ''), "
        "r.fiscal_year::text, r.effective_date::text, r.amount_fen::text, r.memo, "
        "r.created_by::text, " + _TS.format("r.created_at")
    ),
}

UPGRADE = r"""
-- Every complete subtree of the journal's tree: leaf (0, i) = SHA-256(0x00 || hash of entry i+1),
-- node (l+1, i) = SHA-256(0x01 || (l, 2i) || (l, 2i+1)). Appended with each entry, so the root
-- of any size and any proof need O(log n) rows, never a pass over the journal.
CREATE TABLE merkle_node (
    level smallint NOT NULL CHECK (level BETWEEN 0 AND 62),
    idx   bigint NOT NULL CHECK (idx >= 0),
    hash  bytea NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (level, idx)
);
COMMENT ON TABLE merkle_node IS 'Complete subtrees of the RFC 9162 tree over journal entry hashes';

CREATE FUNCTION merkle_append(entry_id bigint, entry_hash text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE lvl smallint := 0; i bigint := entry_id - 1; h bytea; l bytea;
BEGIN
    h := sha256('\x00'::bytea || decode(entry_hash, 'hex'));
    INSERT INTO merkle_node VALUES (0, i, h);
    WHILE i % 2 = 1 LOOP
        SELECT hash INTO STRICT l FROM merkle_node WHERE level = lvl AND idx = i - 1;
        h := sha256('\x01'::bytea || l || h);
        lvl := lvl + 1;
        i := i / 2;
        INSERT INTO merkle_node VALUES (lvl, i, h);
    END LOOP;
END $$;
CREATE FUNCTION journal_entry_merkle() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM merkle_append(NEW.id, NEW.hash);
    RETURN NULL;
END $$;
CREATE TRIGGER journal_entry_merkle AFTER INSERT ON journal_entry
    FOR EACH ROW EXECUTE FUNCTION journal_entry_merkle();
SELECT merkle_append(id, hash) FROM journal_entry ORDER BY id;
CREATE TRIGGER merkle_node_append_only BEFORE UPDATE OR DELETE ON merkle_node
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER merkle_node_no_truncate BEFORE TRUNCATE ON merkle_node
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

-- Signed checkpoints, kept as signed: the body is the exact signed text.
CREATE TABLE checkpoint (
    id         bigserial PRIMARY KEY,
    tree_size  bigint NOT NULL CHECK (tree_size >= 0),
    root       char(64) NOT NULL,
    chain_head char(64) NOT NULL,
    signed_at  timestamptz NOT NULL,
    key_id     text NOT NULL,
    body       text NOT NULL,
    signature  text NOT NULL
);
CREATE INDEX checkpoint_size_idx ON checkpoint (tree_size, id);
CREATE TRIGGER checkpoint_append_only BEFORE UPDATE OR DELETE ON checkpoint
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER checkpoint_no_truncate BEFORE TRUNCATE ON checkpoint
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

-- One hash chain per kind of evidence: link seq of a kind names a row by id and the digest of
-- what the row said when written; its hash covers the previous link.
CREATE TABLE evidence_head (
    kind text PRIMARY KEY,
    seq  bigint NOT NULL,
    hash char(64) NOT NULL
);
CREATE TABLE evidence_link (
    kind       text NOT NULL REFERENCES evidence_head(kind),
    seq        bigint NOT NULL CHECK (seq > 0),
    row_id     text NOT NULL,
    row_digest char(64) NOT NULL,
    prev_hash  char(64) NOT NULL,
    hash       char(64) NOT NULL,
    PRIMARY KEY (kind, seq),
    UNIQUE (kind, row_id)
);
CREATE FUNCTION evidence_link_hash(l evidence_link) RETURNS char(64) LANGUAGE sql IMMUTABLE AS $$
    SELECT encode(sha256(convert_to(concat_ws(chr(31), l.kind, l.seq::text, l.row_id,
        l.row_digest, l.prev_hash), 'UTF8')), 'hex')
$$;
CREATE FUNCTION evidence_append(k text, rid text, digest char(64)) RETURNS void LANGUAGE plpgsql AS $$
DECLARE head evidence_head%ROWTYPE; link evidence_link;
BEGIN
    SELECT * INTO STRICT head FROM evidence_head WHERE kind = k FOR UPDATE;
    link := ROW(k, head.seq + 1, rid, digest, head.hash, NULL);
    link.hash := evidence_link_hash(link);
    INSERT INTO evidence_link SELECT link.*;
    UPDATE evidence_head SET seq = link.seq, hash = link.hash WHERE kind = k;
END $$;
CREATE TRIGGER evidence_link_append_only BEFORE UPDATE OR DELETE ON evidence_link
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER evidence_link_no_truncate BEFORE TRUNCATE ON evidence_link
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
"""

KIND_TEMPLATE = r"""
INSERT INTO evidence_head VALUES ('{kind}', 0, repeat('0', 64));
CREATE FUNCTION {kind}_evidence_digest(r {kind}) RETURNS char(64) LANGUAGE sql IMMUTABLE AS $$
    SELECT encode(sha256(convert_to(concat_ws(chr(31), {columns}), 'UTF8')), 'hex')
$$;
CREATE FUNCTION {kind}_evidence() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM evidence_append('{kind}', NEW.id::text, {kind}_evidence_digest(NEW));
    RETURN NULL;
END $$;
SELECT evidence_append('{kind}', r.id::text, {kind}_evidence_digest(r)) FROM {kind} r ORDER BY r.id;
CREATE TRIGGER {kind}_evidence AFTER INSERT ON {kind}
    FOR EACH ROW EXECUTE FUNCTION {kind}_evidence();
"""

KIND_DOWNGRADE = r"""
DROP TRIGGER {kind}_evidence ON {kind};
DROP FUNCTION {kind}_evidence();
DROP FUNCTION {kind}_evidence_digest({kind});
"""

DOWNGRADE = r"""
DROP FUNCTION evidence_append(text, text, char);
DROP FUNCTION evidence_link_hash(evidence_link);
DROP TABLE evidence_link, evidence_head, checkpoint;
DROP TRIGGER journal_entry_merkle ON journal_entry;
DROP FUNCTION journal_entry_merkle();
DROP TABLE merkle_node;
DROP FUNCTION merkle_append(bigint, text);
"""


def upgrade() -> None:
    op.execute(UPGRADE)
    for kind, columns in EVIDENCE_DIGESTS.items():
        op.execute(KIND_TEMPLATE.format(kind=kind, columns=columns))


def downgrade() -> None:
    for kind in EVIDENCE_DIGESTS:
        op.execute(KIND_DOWNGRADE.format(kind=kind))
    op.execute(DOWNGRADE)
