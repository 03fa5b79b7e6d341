"""The journal's Merkle tree as stored, checkpoints made and kept, and the checks of today's
books against a checkpoint and of every evidence chain against its rows.

Functions take a session and never commit: the caller does.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography.fernet import InvalidToken
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text
from sqlalchemy.orm import Session

from ledger.config import DEMO_CHECKPOINT_KEY, Settings, get_settings
from ledger.domain import GENESIS_HASH
from ledger.evidence import checkpoint as cp
from ledger.evidence.merkle import (
    EMPTY_ROOT,
    LeafTree,
    ProofError,
    consistency_proof,
    leaf_hash,
    root_of,
    subtree_from_complete,
    verify_consistency,
)
from ledger.journal.verify import VerifyReport
from ledger.pii import account_key, decrypt

# Evidence chained by the 0012 migration, each row by its own ``<kind>_evidence_digest``.
EVIDENCE_KINDS = (
    "bank_file",
    "report_record",
    "finding_run",
    "fund_document",
    "period_archive",
)
AUDIT_LOG = "audit_log"


class EvidenceError(RuntimeError):
    """The stored evidence cannot support what was asked (e.g. the tree is behind the journal)."""


def signing_key(settings: Settings | None = None) -> Ed25519PrivateKey:
    settings = settings or get_settings()
    key = cp.load_private_key(settings.checkpoint_key)
    demo = cp.public_raw(cp.load_private_key(DEMO_CHECKPOINT_KEY))
    if settings.environment == "production" and cp.public_raw(key) == demo:
        raise cp.CheckpointError(
            "the demo checkpoint key is refused in production", "LEDGER_CHECKPOINT_KEY"
        )
    return key


def signer_key_id(settings: Settings | None = None) -> str:
    return cp.key_id_of(cp.public_raw(signing_key(settings)))


class StoredTree:
    """The journal's tree from its stored complete subtrees (``merkle_node``)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._cache: dict[tuple[int, int], bytes] = {}

    def complete(self, level: int, index: int) -> bytes:
        key = (level, index)
        if key not in self._cache:
            value = self.session.execute(
                text("SELECT hash FROM merkle_node WHERE level = :l AND idx = :i"),
                {"l": level, "i": index},
            ).scalar()
            if value is None:
                raise EvidenceError(f"the journal's tree has no node ({level}, {index})")
            self._cache[key] = bytes(value)
        return self._cache[key]

    def subtree(self, start: int, end: int) -> bytes:
        return subtree_from_complete(start, end, self.complete)

    def root(self, size: int) -> bytes:
        return self.subtree(0, size) if size else EMPTY_ROOT

    def leaves(self, size: int) -> list[bytes]:
        rows = self.session.execute(
            text("SELECT idx, hash FROM merkle_node WHERE level = 0 AND idx < :n ORDER BY idx"),
            {"n": size},
        ).all()
        return [bytes(r.hash) for i, r in enumerate(rows) if r.idx == i]


def _heads(session: Session) -> dict[str, cp.ChainHead]:
    audit = session.execute(text("SELECT seq, hash FROM audit_chain_head")).one()
    heads = {AUDIT_LOG: cp.ChainHead(int(audit.seq), audit.hash)}
    for r in session.execute(text("SELECT kind, seq, hash FROM evidence_head ORDER BY kind")):
        heads[r.kind] = cp.ChainHead(int(r.seq), r.hash)
    return heads


def make_checkpoint(
    session: Session, *, settings: Settings | None = None, now: datetime | None = None
) -> cp.Checkpoint:
    """Sign the journal as it stands (size, root, chain head) with every chain's head; store it.

    The chain head is read FOR SHARE, so no entry is appended between reading it and the tree.
    """
    key = signing_key(settings)
    head = session.execute(text("SELECT seq, hash FROM chain_head FOR SHARE")).one()
    size = int(head.seq)
    tree = StoredTree(session)
    if size and tree.complete(0, size - 1) != leaf_hash(bytes.fromhex(head.hash)):
        raise EvidenceError("the journal's tree is not in step with its chain head")
    raw = cp.public_raw(key)
    unsigned = cp.Checkpoint(
        tree_size=size,
        root=tree.root(size).hex(),
        chain_head=head.hash,
        signed_at=(now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds"),
        key_id=cp.key_id_of(raw),
        public_key=base64.b64encode(raw).decode(),
        heads=_heads(session),
    )
    signed = cp.sign(key, unsigned)
    session.execute(
        text(
            "INSERT INTO checkpoint (tree_size, root, chain_head, signed_at, key_id, body, signature) "
            "VALUES (:n, :root, :head, :at, :key, :body, :sig)"
        ),
        {
            "n": signed.tree_size,
            "root": signed.root,
            "head": signed.chain_head,
            "at": signed.signed_at,
            "key": signed.key_id,
            "body": cp.signed_message(signed.body()).decode(),
            "sig": signed.signature,
        },
    )
    return signed


def _stored(row: Any) -> cp.Checkpoint:
    body = row.body.split("\n", 1)[1]
    return cp.parse({**json.loads(body), "signature": row.signature})


def latest_checkpoint(session: Session) -> cp.Checkpoint | None:
    """The last checkpoint made, for a report to print (size and root)."""
    row = session.execute(
        text("SELECT body, signature FROM checkpoint ORDER BY id DESC LIMIT 1")
    ).first()
    return _stored(row) if row else None


def printed_checkpoint(session: Session) -> tuple[int, str] | None:
    """(tree size, root) of the latest checkpoint, as a report prints it."""
    latest = latest_checkpoint(session)
    return (latest.tree_size, latest.root) if latest else None


def checkpoint_at(session: Session, size: int) -> cp.Checkpoint | None:
    """The last checkpoint made at that tree size."""
    row = session.execute(
        text(
            "SELECT body, signature FROM checkpoint WHERE tree_size = :n ORDER BY id DESC LIMIT 1"
        ),
        {"n": size},
    ).first()
    return _stored(row) if row else None


@dataclass
class CheckpointReport:
    """Today's books against one checkpoint."""

    ok: bool
    checkpoint_size: int
    checkpoint_root: str
    key_id: str
    journal_size: int = 0
    journal_root: str = ""
    first_bad_entry: int | None = None
    consistency_proof: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def fail(self, message: str, entry_id: int | None = None) -> None:
        self.ok = False
        if entry_id is not None and self.first_bad_entry is None:
            self.first_bad_entry = entry_id
        self.problems.append(message)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _journal_leaves(session: Session) -> list[bytes]:
    result = session.execute(
        text("SELECT hash FROM journal_entry ORDER BY id").execution_options(yield_per=50000)
    )
    return [leaf_hash(bytes.fromhex(h)) for (h,) in result]


def verify_against_checkpoint(
    session: Session, checkpoint: cp.Checkpoint, *, trusted_key_id: str | None = None
) -> CheckpointReport:
    """Prove with a consistency proof that today's journal extends the checkpoint, and that every
    chain still holds the link the checkpoint recorded. Raises ``CheckpointError`` when the
    checkpoint's own signature does not verify."""
    checkpoint.verify_signature(trusted_key_id)
    n, old_root = checkpoint.tree_size, bytes.fromhex(checkpoint.root)
    report = CheckpointReport(True, n, checkpoint.root, checkpoint.key_id)
    today = LeafTree(_journal_leaves(session))
    m = today.size
    report.journal_size, report.journal_root = m, today.root().hex()
    if m >= n and today.root(n) == old_root:
        proof = consistency_proof(n, m, today.subtree)
        verify_consistency(n, m, old_root, today.root(), proof)
        report.consistency_proof = [p.hex() for p in proof]
    else:
        _name_first_bad_entry(session, report, today, old_root)
    _check_heads(session, report, checkpoint.heads)
    return report


def _name_first_bad_entry(
    session: Session, report: CheckpointReport, today: LeafTree, old_root: bytes
) -> None:
    """The stored leaves are evidence only if they still hash to the signed root; then the first
    entry whose hash differs from its stored leaf is named exactly."""
    n, m = report.checkpoint_size, today.size
    stored = StoredTree(session).leaves(n)
    if len(stored) == n and root_of(stored) == old_root:
        for i, leaf in enumerate(stored):
            if i >= m:
                report.fail(
                    f"entry {i + 1} is missing: the journal has {m} entries, the checkpoint "
                    f"committed to {n} (entries {i + 1}..{n} were removed)",
                    i + 1,
                )
                return
            if today.levels[0][i] != leaf:
                report.fail(
                    f"entry {i + 1} was changed: its hash is not the one the checkpoint of "
                    f"{n} entries committed to",
                    i + 1,
                )
                return
        report.fail("the journal does not extend the checkpoint")
        return
    if m < n:
        report.fail(
            f"entry {m + 1} is missing: the journal has {m} entries, the checkpoint committed "
            f"to {n}; the stored tree was rewritten too, so earlier entries cannot be vouched for",
            m + 1,
        )
        return
    report.fail(
        f"entries 1..{n} no longer hash to the checkpoint's root, and the stored tree was "
        "rewritten too: check against an older checkpoint to narrow the change",
        None,
    )


def _check_heads(
    session: Session, report: CheckpointReport, heads: dict[str, cp.ChainHead]
) -> None:
    for kind, head in sorted(heads.items()):
        if head.seq == 0:
            continue
        if kind == AUDIT_LOG:
            row = session.execute(
                text("SELECT id::text AS row_id, hash FROM audit_log WHERE seq = :s"),
                {"s": head.seq},
            ).first()
            last = session.execute(text("SELECT max(seq) FROM audit_log")).scalar()
        elif kind in EVIDENCE_KINDS:
            row = session.execute(
                text("SELECT row_id, hash FROM evidence_link WHERE kind = :k AND seq = :s"),
                {"k": kind, "s": head.seq},
            ).first()
            last = session.execute(
                text("SELECT max(seq) FROM evidence_link WHERE kind = :k"), {"k": kind}
            ).scalar()
        else:
            report.fail(f"the checkpoint names a chain this ledger does not keep: {kind}")
            continue
        if row is None:
            report.fail(
                f"{kind}: link {(last or 0) + 1} is missing: the chain has {last or 0} links, "
                f"the checkpoint committed to {head.seq} (its last rows were removed)"
            )
        elif row.hash != head.hash:
            report.fail(
                f"{kind}: link {head.seq} (row {row.row_id}) is not the one the checkpoint "
                "committed to: the chain was rewritten at or before it"
            )


def check_evidence_chains(session: Session, report: VerifyReport) -> None:
    """Each chained row still has the digest its link recorded; links and head are intact."""
    for kind in EVIDENCE_KINDS:
        rows = session.execute(
            text(
                "WITH cur AS (SELECT r.id::text AS row_id, "
                f"{kind}_evidence_digest(r) AS digest FROM {kind} r), "
                "l AS (SELECT l.*, evidence_link_hash(l) AS rehash, "
                "lag(l.hash) OVER (ORDER BY l.seq) AS before, "
                "lag(l.seq) OVER (ORDER BY l.seq) AS before_seq "
                "FROM evidence_link l WHERE l.kind = :k) "
                "SELECT l.seq, COALESCE(l.row_id, cur.row_id) AS row_id, l.row_digest, "
                "cur.digest, l.hash IS DISTINCT FROM l.rehash "
                "OR l.prev_hash IS DISTINCT FROM COALESCE(l.before, :g) "
                "OR l.seq IS DISTINCT FROM COALESCE(l.before_seq, 0) + 1 AS broken "
                "FROM l FULL JOIN cur ON cur.row_id = l.row_id "
                "WHERE l.seq IS NULL OR cur.digest IS NULL OR cur.digest <> l.row_digest "
                "OR l.hash IS DISTINCT FROM l.rehash "
                "OR l.prev_hash IS DISTINCT FROM COALESCE(l.before, :g) "
                "OR l.seq IS DISTINCT FROM COALESCE(l.before_seq, 0) + 1 "
                "ORDER BY l.seq NULLS LAST LIMIT 20"
            ),
            {"k": kind, "g": GENESIS_HASH},
        ).all()
        for r in rows:
            if r.seq is None:
                report.fail(
                    f"{kind} {r.row_id} has no evidence link: it was added behind the chain"
                )
            elif r.digest is None:
                report.fail(f"{kind} {r.row_id} was removed (evidence link {r.seq})")
            elif r.digest != r.row_digest:
                report.fail(f"{kind} {r.row_id} was changed since it was written")
            if r.seq is not None and r.broken:
                report.fail(
                    f"{kind}: evidence link {r.seq} (row {r.row_id}) was changed or removed"
                )
        head = session.execute(
            text(
                "SELECT h.seq, h.hash, (SELECT max(seq) FROM evidence_link WHERE kind = :k) AS last, "
                "(SELECT hash FROM evidence_link WHERE kind = :k ORDER BY seq DESC LIMIT 1) AS "
                "last_hash FROM evidence_head h WHERE h.kind = :k"
            ),
            {"k": kind},
        ).one()
        if head.seq != (head.last or 0) or (head.last and head.hash != head.last_hash):
            report.fail(f"{kind}: the chain head does not match its last link (links were removed)")


def check_payout_accounts(session: Session, report: VerifyReport) -> None:
    """Each payout's encrypted account is the account its key (the one its digest covers) names:
    a ciphertext swapped between lines, or replaced, is found here."""
    result = session.execute(
        text(
            "SELECT id, batch_id, seq, reference, account_key, account_enc FROM payout ORDER BY id"
        ).execution_options(yield_per=20000)
    )
    bad = 0
    for r in result:
        try:
            ok = account_key(decrypt(r.account_enc)) == r.account_key
        except InvalidToken:
            ok = False
        if not ok:
            bad += 1
            if bad <= 20:
                report.fail(
                    f"payout {r.id} (batch {r.batch_id}, line {r.seq}, reference {r.reference}): "
                    "its encrypted account is not the account its key names"
                )


EVIDENCE_CHECKS: tuple[Callable[[Session, VerifyReport], None], ...] = (
    check_evidence_chains,
    check_payout_accounts,
)


__all__ = [
    "EVIDENCE_CHECKS",
    "CheckpointReport",
    "EvidenceError",
    "ProofError",
    "StoredTree",
    "check_evidence_chains",
    "check_payout_accounts",
    "checkpoint_at",
    "latest_checkpoint",
    "make_checkpoint",
    "signer_key_id",
    "signing_key",
    "verify_against_checkpoint",
]
