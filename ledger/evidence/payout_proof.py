"""A payout line's proof: the printed line is in a released batch, whose release entry is in the
journal a signed checkpoint commits to.

The file (format ``ledger-payout-proof/1``) carries the printed line, its salt and the opaque
commitment to the person and account, the leaf hash, the RFC 9162 path to the batch root, the
release entry (its canonical bytes, whose SHA-256 is its hash and whose ``payload_digest`` is the
batch root) and that entry's path to the checkpoint's root. ``verify_payout_proof`` needs only
the file and the checkpoint: no database.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from ledger.domain import canonical_entry, leaf_digest
from ledger.errors import Conflict, NotFound
from ledger.evidence import checkpoint as cp
from ledger.evidence.merkle import LeafTree, ProofError, inclusion_path, leaf_hash, verify_inclusion
from ledger.evidence.service import StoredTree
from ledger.journal.service import entry_lines
from ledger.payouts import (
    REFERENCE_PATTERN,
    PayoutLine,
    PrintedLine,
    batch_lines,
    leaf_columns,
    printed_leaf,
)

FORMAT = "ledger-payout-proof/1"
MAX_PATH = 64
MAX_FILE_BYTES = 256 * 1024


class ProofFileError(ValueError):
    """A proof file that cannot be read, or that does not prove what it claims; names the field."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class VerifiedPayout:
    reference: str
    amount_fen: int
    batch_id: int
    entry_id: int
    tree_size: int


def _line_row(session: Session, reference: str) -> Any:
    row = session.execute(
        text(
            f"SELECT p.id, p.batch_id, p.state, p.bank_code, {leaf_columns('p')}, "
            "b.status AS batch_status, b.merkle_root, b.line_count, b.release_entry_id "
            "FROM payout p JOIN payment_batch b ON b.id = p.batch_id WHERE p.reference = :r"
        ),
        {"r": reference},
    ).first()
    if row is None:
        raise NotFound(f"no payout {reference}")
    return row


def payout_scope(session: Session, reference: str) -> tuple[str, str, str]:
    """(county, bank, state) of a payout, for the route to authorise before anything is built."""
    if not re.match(REFERENCE_PATTERN, reference):
        raise NotFound(f"no payout {reference}")
    row = _line_row(session, reference)
    return str(row.county_code), str(row.bank_code), str(row.state)


def release_entry_of(session: Session, reference: str) -> int:
    """The entry that released the payout's batch (the checkpoint must cover it)."""
    row = _line_row(session, reference)
    if row.release_entry_id is None:
        raise Conflict(f"payout {reference} is in batch {row.batch_id}, which is not released")
    return int(row.release_entry_id)


def build_payout_proof(
    session: Session, reference: str, checkpoint: cp.Checkpoint
) -> dict[str, Any]:
    """The proof of one line against ``checkpoint``, which must cover the batch's release entry."""
    row = _line_row(session, reference)
    if row.batch_status != "released" or row.release_entry_id is None:
        raise Conflict(f"payout {reference} is in batch {row.batch_id}, which is not released")
    line = PayoutLine(*row[4:16])
    if line.leaf_version != 2 or line.salt is None:
        raise Conflict(
            f"payout {reference} was released before per-line proofs (leaf version "
            f"{line.leaf_version}): its batch digest is checked by `ledger verify` only"
        )
    if row.release_entry_id > checkpoint.tree_size:
        raise Conflict(
            f"the checkpoint ({checkpoint.tree_size} entries) was made before the release entry "
            f"{row.release_entry_id}: make a new checkpoint"
        )
    seqs, leaves = [], []
    for other in batch_lines(session, row.batch_id):
        seqs.append(other.seq)
        leaves.append(leaf_digest(other.leaf()))
    tree = LeafTree(leaves)
    index = seqs.index(line.seq)
    entry = session.execute(
        text(
            "SELECT id, prev_hash, kind, memo, effective_date, document_type, document_id, "
            "reverses_id, payload_digest, created_by, created_at, hash FROM journal_entry "
            "WHERE id = :e"
        ),
        {"e": row.release_entry_id},
    ).one()
    canonical = canonical_entry(
        entry_id=entry.id,
        prev_hash=entry.prev_hash,
        kind=entry.kind,
        memo=entry.memo,
        effective_date=entry.effective_date,
        document_type=entry.document_type,
        document_id=entry.document_id,
        reverses_id=entry.reverses_id,
        payload_digest=entry.payload_digest.strip(),
        created_by=entry.created_by,
        created_at=entry.created_at,
        lines=entry_lines(session, entry.id),
    ).decode()
    journal = StoredTree(session)
    printed = line.printed()
    return {
        "format": FORMAT,
        "line": {
            "reference": printed.reference,
            "masked_name": printed.masked_name,
            "amount_fen": printed.amount_fen,
            "period": printed.period,
            "fund": printed.fund,
            "county": printed.county,
        },
        "salt": line.salt,
        "commitment": line.commitment(),
        "leaf": line.leaf_hash(),
        "batch": {
            "id": row.batch_id,
            "size": tree.size,
            "index": index,
            "root": row.merkle_root,
            "path": [p.hex() for p in inclusion_path(index, tree.size, tree.subtree)],
        },
        "release_entry": {
            "id": entry.id,
            "hash": entry.hash,
            "payload_digest": entry.payload_digest.strip(),
            "canonical": canonical,
        },
        "journal": {
            "tree_size": checkpoint.tree_size,
            "root": checkpoint.root,
            "index": entry.id - 1,
            "path": [
                p.hex() for p in inclusion_path(entry.id - 1, checkpoint.tree_size, journal.subtree)
            ],
        },
        "checkpoint": {
            "tree_size": checkpoint.tree_size,
            "root": checkpoint.root,
            "key_id": checkpoint.key_id,
        },
    }


# ---- reading and checking a proof, offline -------------------------------------------------


def _get(doc: dict[str, Any], name: str, kind: type, where: str) -> Any:
    value = doc.get(name)
    if kind is int and isinstance(value, bool):
        value = None
    if not isinstance(value, kind):
        raise ProofFileError(f"{where}{name} is missing or not a {kind.__name__}", where + name)
    return value


def _hex(doc: dict[str, Any], name: str, where: str, length: int = 64) -> bytes:
    value = _get(doc, name, str, where)
    if len(value) != length or not re.fullmatch(r"[0-9a-f]+", value):
        raise ProofFileError(f"{where}{name} is not {length} lowercase hex digits", where + name)
    return bytes.fromhex(value)


def _path(doc: dict[str, Any], where: str) -> list[bytes]:
    items = _get(doc, "path", list, where)
    if len(items) > MAX_PATH:
        raise ProofFileError(f"{where}path is longer than {MAX_PATH}", where + "path")
    return [_hex({"path": p}, "path", where) for p in items]


def _section(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return dict(_get(doc, name, dict, ""))


def loads(data: str | bytes) -> dict[str, Any]:
    """A proof file's JSON; a clear error for anything that is not one."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProofFileError(f"not a JSON document (truncated?): {exc}", "file") from None
    if not isinstance(doc, dict):
        raise ProofFileError("not a JSON object", "file")
    if doc.get("format") != FORMAT:
        raise ProofFileError(f"format is not {FORMAT}", "format")
    return doc


def verify_payout_proof(doc: dict[str, Any], checkpoint: cp.Checkpoint) -> VerifiedPayout:
    """Check every link from the printed line to the signed checkpoint; raise ``ProofFileError``
    naming the first link that fails. The checkpoint's signature is checked by the caller."""
    line_doc = _section(doc, "line")
    printed = PrintedLine(
        _get(line_doc, "reference", str, "line."),
        _get(line_doc, "masked_name", str, "line."),
        _get(line_doc, "amount_fen", int, "line."),
        _get(line_doc, "period", str, "line."),
        _get(line_doc, "fund", str, "line."),
        _get(line_doc, "county", str, "line."),
    )
    salt = _hex(doc, "salt", "", 32).hex()
    commitment = _hex(doc, "commitment", "").hex()
    leaf = _hex(doc, "leaf", "")
    if leaf_digest(printed_leaf(printed, salt, commitment)) != leaf:
        raise ProofFileError("the line, salt and commitment do not hash to the leaf", "leaf")

    batch = _section(doc, "batch")
    batch_root = _hex(batch, "root", "batch.")
    try:
        verify_inclusion(
            _get(batch, "index", int, "batch."),
            _get(batch, "size", int, "batch."),
            leaf,
            _path(batch, "batch."),
            batch_root,
        )
    except ProofError as exc:
        raise ProofFileError(f"the line is not in the batch: {exc}", "batch.path") from None

    entry = _section(doc, "release_entry")
    entry_id = _get(entry, "id", int, "release_entry.")
    entry_hash = _hex(entry, "hash", "release_entry.")
    canonical = _get(entry, "canonical", str, "release_entry.")
    if hashlib.sha256(canonical.encode()).digest() != entry_hash:
        raise ProofFileError(
            "the release entry does not hash to its hash", "release_entry.canonical"
        )
    try:
        body = json.loads(canonical)
    except ValueError:
        raise ProofFileError("the release entry is not JSON", "release_entry.canonical") from None
    if (
        not isinstance(body, dict)
        or body.get("id") != entry_id
        or body.get("kind") != "batch_release"
    ):
        raise ProofFileError("the entry is not the batch's release entry", "release_entry.id")
    if (
        body.get("payload_digest") != batch_root.hex()
        or entry.get("payload_digest") != batch_root.hex()
    ):
        raise ProofFileError(
            "the release entry commits to another batch root", "release_entry.payload_digest"
        )

    journal = _section(doc, "journal")
    size = _get(journal, "tree_size", int, "journal.")
    root = _hex(journal, "root", "journal.")
    if size != checkpoint.tree_size or root.hex() != checkpoint.root:
        raise ProofFileError(
            f"the proof is against the tree of {size} entries, not the checkpoint's "
            f"({checkpoint.tree_size})",
            "journal.tree_size",
        )
    index = _get(journal, "index", int, "journal.")
    if index != entry_id - 1:
        raise ProofFileError("the journal index is not the release entry's", "journal.index")
    try:
        verify_inclusion(index, size, leaf_hash(entry_hash), _path(journal, "journal."), root)
    except ProofError as exc:
        raise ProofFileError(
            f"the release entry is not in the checkpoint's journal: {exc}", "journal.path"
        ) from None
    return VerifiedPayout(
        printed.reference, printed.amount_fen, _get(batch, "id", int, "batch."), entry_id, size
    )
