"""Bank account numbers at rest: a keyed hash to match on, ciphertext for the instruction file,
a mask to show. A database dump alone no longer reveals an account number. Also the merge
revision that joins the branches from 0001 into one head.

Revision ID: 0010_account_encryption
Revises: 0002_documents, 0003_roster, 0004_reconciliation, 0005_reports, 0006_integrity
Create Date: 2026-12-01
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import sqlmodel.sql.sqltypes  # noqa: F401

from alembic import op

revision: str = "0010_account_encryption"
down_revision: str | Sequence[str] | None = (
    "0002_documents",
    "0003_roster",
    "0004_reconciliation",
    "0005_reports",
    "0006_integrity",
)
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _integrity() -> ModuleType:
    """0006, whose payout guard and leaf this revision rewrites over the account key."""
    path = Path(__file__).with_name("0006_integrity.py")
    spec = importlib.util.spec_from_file_location("_rev_0006_integrity", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_ACCOUNT_COLUMNS = "{p}.account_key, {p}.account_enc, {p}.account_masked"

# Released lines and their recorded digests commit to the old columns: rewriting them here would
# make every past batch fail ``verify``. The schema is pre-release, so the tables must be empty.
REFUSE_IF_DATA = r"""
DO $$
DECLARE t text; n bigint;
BEGIN
    FOREACH t IN ARRAY ARRAY['roster_version','payout','bank_file','recon_exception'] LOOP
        EXECUTE format('SELECT 1 FROM %I LIMIT 1', t);
        GET DIAGNOSTICS n = ROW_COUNT;
        IF n > 0 THEN
            RAISE EXCEPTION 'account storage changes on empty tables only: export and re-import';
        END IF;
    END LOOP;
END $$;
"""

UPGRADE = r"""
ALTER TABLE roster_version DROP COLUMN account_no,
    ADD COLUMN account_key char(64) NOT NULL,
    ADD COLUMN account_enc text NOT NULL,
    ADD COLUMN account_masked text NOT NULL;
ALTER TABLE payout DROP COLUMN account_no,
    ADD COLUMN account_key char(64) NOT NULL,
    ADD COLUMN account_enc text NOT NULL,
    ADD COLUMN account_masked text NOT NULL;
COMMENT ON COLUMN payout.account_key IS 'Keyed hash of the normalised bank account: matching only';
COMMENT ON COLUMN payout.account_enc IS 'Fernet ciphertext of the account, read for the bank file';
COMMENT ON COLUMN recon_exception.account IS 'The account of the bank line, masked';
-- The file as received, encrypted: return files list account numbers. size_bytes stays the size
-- of the file itself.
DO $$
DECLARE c name;
BEGIN
    SELECT conname INTO STRICT c FROM pg_constraint WHERE conrelid = 'bank_file'::regclass
       AND contype = 'c' AND pg_get_constraintdef(oid) LIKE '%length(content)%';
    EXECUTE format('ALTER TABLE bank_file DROP CONSTRAINT %I', c);
END $$;
COMMENT ON COLUMN bank_file.content IS 'Fernet ciphertext of the file as received';
"""

DOWNGRADE = r"""
ALTER TABLE bank_file ADD CHECK (size_bytes = length(content));
COMMENT ON COLUMN bank_file.content IS NULL;
COMMENT ON COLUMN recon_exception.account IS NULL;
ALTER TABLE payout DROP COLUMN account_key, DROP COLUMN account_enc, DROP COLUMN account_masked,
    ADD COLUMN account_no text NOT NULL;
ALTER TABLE roster_version DROP COLUMN account_key, DROP COLUMN account_enc,
    DROP COLUMN account_masked, ADD COLUMN account_no text NOT NULL;
"""


def guard_over_account_key(integrity: ModuleType) -> str:
    """0006's payout guard with the line digest and the frozen columns over the new columns."""
    leaf = integrity.PAYOUT_LEAF_SQL.replace("{p}.account_no", "{p}.account_key")
    template = integrity.GUARD_TEMPLATE.replace(
        "n.account_no", _ACCOUNT_COLUMNS.format(p="n")
    ).replace("o.account_no", _ACCOUNT_COLUMNS.format(p="o"))
    return template.format(
        col=", line_digest",
        val=",\n           CASE WHEN n.state = 'sent' THEN encode("
        + leaf.format(p="n")
        + ", 'hex') END",
    )


def upgrade() -> None:
    op.execute(REFUSE_IF_DATA)
    op.execute(UPGRADE)
    op.execute(guard_over_account_key(_integrity()))


def downgrade() -> None:
    op.execute(REFUSE_IF_DATA)
    op.execute(DOWNGRADE)
    op.execute(_integrity().GUARD_WITH_DIGEST)
