"""The payout line (代发明细): its states and transitions, the columns its leaf commits to, and the
leaf itself. Batches (the digest at release), ``verify`` (the digest check) and the migration
that writes the payout guard (the digest recorded when a line is sent) all take it from here.

Two leaf versions exist; a line keeps the one it was released under (``payout.leaf_version``):

1. The line with its keyed hashes: seq, reference, person key, account key, account name, payee
   name, amount, joined by U+001F. Only the ledger can recompute it.
2. The line as printed — reference, masked name, amount in fen, period, fund, county — with a
   per-line random salt and an opaque commitment to the person and account (SHA-256 over the
   person key, the account key and both full names). Anyone holding the printed line and the
   salt can recompute it; the commitment reveals nothing, yet a swapped account changes it.

The leaf hash is the RFC 9162 one, SHA-256(0x00 ‖ leaf); the batch root is MTH over the lines
in seq order (``ledger.domain.merkle_root``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal, get_args

from sqlalchemy import text
from sqlalchemy.orm import Session

from ledger.domain import leaf_digest, merkle_root, merkle_root_of_hashes
from ledger.pii import mask_name

PayoutState = Literal["draft", "sent", "paid", "failed", "returned", "reissued", "cancelled"]
"""A payout line's states; the guard in the database (written from this module) enforces
``TRANSITIONS``."""
STATES: tuple[str, ...] = get_args(PayoutState)
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "draft": ("sent", "cancelled"),
    "sent": ("paid", "failed"),
    "paid": ("returned",),
    "failed": ("reissued",),
    "returned": ("reissued",),
}
LIVE_STATES = ("draft", "sent", "paid")
"""The states in which a payout is a person's one live payout for its fund and period (the
database keeps them in ``payout_live``); a failed or returned line leaves them to be reissued."""
DISCLOSED_STATES = ("sent", "paid")
"""The states a disclosure prints (and whose proof the public may fetch)."""

LEAF_VERSION = 2
SEP = "\x1f"
LEAF_PREFIX = "ledger-payout/2"
KEYS_PREFIX = "ledger-payout-keys/1"
REFERENCE_PATTERN = r"^[A-Z0-9]{1,12}$"

LEAF_COLUMNS = (
    "seq, reference, person_key, account_key, account_name, payee_name, amount_fen, period, "
    "fund_code, county_code, salt, leaf_version"
)
"""What the leaf of a line reads, in the order of ``PayoutLine``."""


def leaf_columns(alias: str) -> str:
    """``LEAF_COLUMNS`` of the payout row aliased ``alias``."""
    return ", ".join(f"{alias}.{c.strip()}" for c in LEAF_COLUMNS.split(","))


FROZEN_COLUMNS = (
    "amount_fen, account_key, account_enc, account_masked, account_name, payee_name, reference, "
    "person_key, batch_id, seq, county_code, fund_code, period, salt, leaf_version"
)
"""The columns a released line can no longer change (the payout guard refuses it)."""


@dataclass(frozen=True)
class PrintedLine:
    """A payout line as the disclosure prints it: all a member of the public holds."""

    reference: str
    masked_name: str
    amount_fen: int
    period: str
    fund: str
    county: str


@dataclass(frozen=True)
class PayoutLine:
    seq: int
    reference: str
    person_key: str
    account_key: str
    account_name: str
    payee_name: str
    amount_fen: int
    period: str
    fund_code: str
    county_code: str
    salt: str | None
    leaf_version: int

    def printed(self) -> PrintedLine:
        return PrintedLine(
            self.reference,
            mask_name(self.payee_name),
            self.amount_fen,
            self.period,
            self.fund_code,
            self.county_code,
        )

    def commitment(self) -> str:
        return keys_commitment(
            self.person_key, self.account_key, self.account_name, self.payee_name
        )

    def leaf(self) -> bytes:
        if self.leaf_version == 1:
            fields = [
                str(self.seq),
                self.reference,
                self.person_key,
                self.account_key,
                self.account_name,
                self.payee_name,
                str(self.amount_fen),
            ]
            return SEP.join(fields).encode()
        if self.salt is None:
            raise ValueError(f"payout {self.reference} has no salt")
        return printed_leaf(self.printed(), self.salt, self.commitment())

    def leaf_hash(self) -> str:
        return leaf_digest(self.leaf()).hex()


def keys_commitment(person_key: str, account_key: str, account_name: str, payee_name: str) -> str:
    """SHA-256 over the person and the account (keyed hashes) and both names: opaque, binding."""
    fields = [KEYS_PREFIX, person_key, account_key, account_name, payee_name]
    return hashlib.sha256(SEP.join(fields).encode()).hexdigest()


def printed_leaf(line: PrintedLine, salt: str, commitment: str) -> bytes:
    """Leaf version 2: the printed line, the salt and the commitment, joined by U+001F, UTF-8."""
    fields = [
        LEAF_PREFIX,
        line.reference,
        line.masked_name,
        str(line.amount_fen),
        line.period,
        line.fund,
        line.county,
        salt,
        commitment,
    ]
    return SEP.join(fields).encode()


def batch_lines(session: Session, batch_id: int) -> Iterator[PayoutLine]:
    """The batch's lines in seq order, streamed."""
    result = session.execute(
        text(
            f"SELECT {LEAF_COLUMNS} FROM payout WHERE batch_id = :b ORDER BY seq"
        ).execution_options(yield_per=20000),
        {"b": batch_id},
    )
    for r in result:
        yield PayoutLine(*r)


def batch_root(session: Session, batch_id: int) -> str:
    """The Merkle root of the batch's lines in seq order, each leaf built here from its columns:
    what ``verify`` recomputes, independently of the database's own leaf (``release_root``)."""
    return merkle_root(line.leaf() for line in batch_lines(session, batch_id))


def release_root(session: Session, batch_id: int) -> str:
    """The Merkle root a release commits to: the same root as ``batch_root``, over the leaf
    hashes the database computes (``leaf_sha256_sql``, as the payout guard records each sent
    line's), so that no line is fetched whole; ``verify`` recomputes it from the columns."""
    result = session.execute(
        text(
            f"SELECT {leaf_sha256_sql('p')} FROM payout p WHERE p.batch_id = :b ORDER BY p.seq"
        ).execution_options(yield_per=20000),
        {"b": batch_id},
    )
    return merkle_root_of_hashes(bytes(r[0]) for r in result)


# ---- the same leaf in SQL, for the payout guard ---------------------------------------------

_KEYS_SQL = (
    "encode(sha256(convert_to(concat_ws(chr(31), '" + KEYS_PREFIX + "', {p}.person_key, "
    "{p}.account_key, {p}.account_name, {p}.payee_name), 'UTF8')), 'hex')"
)
_V1_SQL = (
    "concat_ws(chr(31), {p}.seq::text, {p}.reference, {p}.person_key, {p}.account_key, "
    "{p}.account_name, {p}.payee_name, {p}.amount_fen::text)"
)
_V2_SQL = (
    "concat_ws(chr(31), '" + LEAF_PREFIX + "', {p}.reference, mask_name({p}.payee_name), "
    "{p}.amount_fen::text, {p}.period::text, {p}.fund_code, {p}.county_code::text, {p}.salt, "
    + _KEYS_SQL
    + ")"
)


def leaf_sha256_sql(p: str) -> str:
    """The leaf hash (bytea) of the payout row aliased ``p``, as ``PayoutLine.leaf_hash`` computes
    it (needs the SQL ``mask_name`` of ``ledger.pii.MASK_NAME_SQL``)."""
    leaf = f"CASE {p}.leaf_version WHEN 1 THEN {_V1_SQL} ELSE {_V2_SQL} END".format(p=p)
    return f"sha256('\\x00'::bytea || convert_to({leaf}, 'UTF8'))"


def leaf_hash_sql(p: str) -> str:
    """``leaf_sha256_sql`` in hex, as ``PayoutLine.leaf_hash`` gives it."""
    return f"encode({leaf_sha256_sql(p)}, 'hex')"


def transition_sql(old: str, new: str) -> str:
    """True when ``old.state`` → ``new.state`` is an allowed move."""
    return " OR ".join(
        f"({old}.state = '{src}' AND {new}.state IN ({', '.join(repr(d) for d in dst)}))"
        for src, dst in TRANSITIONS.items()
    )
