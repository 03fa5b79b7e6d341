"""Bank files stored as they stream: AES-GCM chunks bound to their file and place.

Revision ID: 0022_bank_file_chunks
Revises: 0021_partitions
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlmodel.sql.sqltypes  # noqa: F401

from alembic import op

revision: str = "0022_bank_file_chunks"
down_revision: str | Sequence[str] | None = "0021_partitions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = "to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US')"


def _digest(content: str) -> str:
    """bank_file_evidence_digest's columns (0012_evidence), the stored bytes as ``content``."""
    return (
        f"r.id::text, r.sha256, {content}, r.size_bytes::text, r.kind, "
        "r.bank_code, coalesce(r.batch_id::text, ''), coalesce(r.county_code, ''), "
        "coalesce(r.fund_code, ''), r.filename, r.uploaded_by, " + _TS.format("r.uploaded_at") + ", "
        "r.status, r.line_count::text, r.total_fen::text, r.counts::text, "
        "encode(sha256(convert_to(r.result::text, 'UTF8')), 'hex')"
    )


DIGEST_FUNCTION = r"""
CREATE OR REPLACE FUNCTION bank_file_evidence_digest(r bank_file) RETURNS char(64) LANGUAGE sql
{volatility} AS $$
    SELECT encode(sha256(convert_to(concat_ws(chr(31), {columns}), 'UTF8')), 'hex')
$$;
"""

UPGRADE = r"""
-- A return file of a million lines is stored as it is read, never held whole: in chunks of
-- 1 MiB, each AES-256-GCM with its own nonce and, as associated data, its file, its index and
-- whether it is the last one, so no chunk can be changed, moved, dropped from the end or taken
-- from another file without failing to decrypt. Files stored before keep their one Fernet value
-- in bank_file.content; content_format says which a row is.
CREATE TABLE bank_file_chunk (
    bank_file_id bigint NOT NULL REFERENCES bank_file (id) DEFERRABLE INITIALLY DEFERRED,
    idx          integer NOT NULL CHECK (idx >= 0),
    nonce        bytea NOT NULL CHECK (length(nonce) = 12),
    ciphertext   bytea NOT NULL,
    PRIMARY KEY (bank_file_id, idx)
);
COMMENT ON TABLE bank_file_chunk IS 'A bank file as received, AES-GCM encrypted chunk by chunk';
-- Ciphertext does not compress: storing it as it is spares the server a useless attempt.
ALTER TABLE bank_file_chunk ALTER COLUMN ciphertext SET STORAGE EXTERNAL;
CREATE TRIGGER bank_file_chunk_append_only BEFORE UPDATE OR DELETE ON bank_file_chunk
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER bank_file_chunk_no_truncate BEFORE TRUNCATE ON bank_file_chunk
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

ALTER TABLE bank_file ALTER COLUMN content DROP NOT NULL,
    ADD COLUMN content_format text NOT NULL DEFAULT 'fernet'
        CHECK (content_format IN ('fernet', 'aesgcm_chunks')),
    ADD CONSTRAINT bank_file_content_format CHECK ((content_format = 'fernet') = (content IS NOT NULL));
COMMENT ON COLUMN bank_file.content IS 'Fernet ciphertext of the file as received (content_format fernet)';

-- What the evidence chain commits to for a chunked file: every chunk as stored, in order. The
-- digest of a Fernet row is what it was, so the links already written still verify.
CREATE FUNCTION bank_file_chunks_digest(file_id bigint) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT 'chunks:' || count(*) || ':' || coalesce(encode(sha256(string_agg(
        sha256(convert_to(c.idx::text, 'UTF8') || c.nonce || c.ciphertext), ''::bytea
        ORDER BY c.idx)), 'hex'), '')
    FROM bank_file_chunk c WHERE c.bank_file_id = file_id
$$;
"""

DOWNGRADE = r"""
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM bank_file WHERE content_format <> 'fernet') THEN
        RAISE EXCEPTION 'bank files are stored in chunks: export them before downgrading';
    END IF;
END $$;
DROP FUNCTION bank_file_chunks_digest(bigint);
ALTER TABLE bank_file DROP CONSTRAINT bank_file_content_format, DROP COLUMN content_format,
    ALTER COLUMN content SET NOT NULL;
COMMENT ON COLUMN bank_file.content IS 'Fernet ciphertext of the file as received';
DROP TABLE bank_file_chunk;
"""


def upgrade() -> None:
    op.execute(UPGRADE)
    op.execute(
        DIGEST_FUNCTION.format(
            volatility="STABLE",
            columns=_digest(
                "coalesce(encode(sha256(r.content), 'hex'), bank_file_chunks_digest(r.id))"
            ),
        )
    )


def downgrade() -> None:
    op.execute(
        DIGEST_FUNCTION.format(
            volatility="IMMUTABLE", columns=_digest("encode(sha256(r.content), 'hex')")
        )
    )
    op.execute(DOWNGRADE)
