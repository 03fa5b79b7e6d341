"""Pure rules of the books: account kinds, entry shapes, canonical hashing. No database here."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, Literal

Side = Literal["D", "C"]
GENESIS_HASH = "0" * 64


class AccountKind(StrEnum):
    """The chart of accounts each (jurisdiction, fund) gets on first use."""

    special_cash = "special_cash"  # 专户存款, asset, never below zero
    in_transit = "in_transit"  # 在途款, asset: handed to the bank, not yet confirmed
    suspense = "suspense"  # 暂存款, liability: bank money that matched nothing yet
    appropriation_revenue = "appropriation_revenue"  # 本级拨款收入
    transfer_in = "transfer_in"  # 上级补助收入
    transfer_out = "transfer_out"  # 补助下级支出
    benefit_expense = "benefit_expense"  # 救助支出


ACCOUNT_LABELS = {
    AccountKind.special_cash: "专户存款",
    AccountKind.in_transit: "在途款",
    AccountKind.suspense: "暂存款",
    AccountKind.appropriation_revenue: "本级拨款收入",
    AccountKind.transfer_in: "上级补助收入",
    AccountKind.transfer_out: "补助下级支出",
    AccountKind.benefit_expense: "救助支出",
}


@dataclass(frozen=True, slots=True)
class PostingLine:
    jurisdiction: str
    fund: str
    kind: AccountKind
    side: Side
    amount_fen: int

    def key(self) -> tuple[str, str, str, str, int]:
        return (self.jurisdiction, self.fund, self.kind.value, self.side, self.amount_fen)


class UnbalancedEntry(ValueError):
    pass


def check_balanced(lines: Sequence[PostingLine]) -> None:
    """Σdebits = Σcredits for every (jurisdiction, fund): the rule that makes 专款专用 structural."""
    if len(lines) < 2:
        raise UnbalancedEntry("an entry needs at least two postings")
    totals: dict[tuple[str, str], int] = {}
    for line in lines:
        if line.amount_fen <= 0:
            raise UnbalancedEntry(f"posting amount must be positive, got {line.amount_fen}")
        sign = 1 if line.side == "D" else -1
        k = (line.jurisdiction, line.fund)
        totals[k] = totals.get(k, 0) + sign * line.amount_fen
    for (jur, fund), diff in sorted(totals.items()):
        if diff:
            raise UnbalancedEntry(
                f"entry does not balance for {jur}/{fund}: debits - credits = {diff}"
            )


def pair(
    jur: str, fund: str, debit: AccountKind, credit: AccountKind, amount_fen: int
) -> list[PostingLine]:
    return [
        PostingLine(jur, fund, debit, "D", amount_fen),
        PostingLine(jur, fund, credit, "C", amount_fen),
    ]


def allocation_lines(jur: str, fund: str, amount_fen: int) -> list[PostingLine]:
    """拨款: Dr special cash / Cr appropriation revenue."""
    return pair(jur, fund, AccountKind.special_cash, AccountKind.appropriation_revenue, amount_fen)


def transfer_lines(sender: str, receiver: str, fund: str, amount_fen: int) -> list[PostingLine]:
    """转移支付: one entry on both books, each side balanced on its own."""
    return pair(
        sender, fund, AccountKind.transfer_out, AccountKind.special_cash, amount_fen
    ) + pair(receiver, fund, AccountKind.special_cash, AccountKind.transfer_in, amount_fen)


def reallocation_lines(
    jur: str, from_fund: str, to_fund: str, amount_fen: int
) -> list[list[PostingLine]]:
    """调剂: two entries, each balanced within its own fund."""
    return [
        pair(jur, from_fund, AccountKind.transfer_out, AccountKind.special_cash, amount_fen),
        pair(jur, to_fund, AccountKind.special_cash, AccountKind.transfer_in, amount_fen),
    ]


def release_lines(county: str, fund: str, total_fen: int) -> list[PostingLine]:
    """代发 release: Dr in transit / Cr special cash for the batch total."""
    return pair(county, fund, AccountKind.in_transit, AccountKind.special_cash, total_fen)


def reversal_lines(lines: Iterable[PostingLine]) -> list[PostingLine]:
    flip: dict[str, Side] = {"D": "C", "C": "D"}
    return [
        PostingLine(ln.jurisdiction, ln.fund, ln.kind, flip[ln.side], ln.amount_fen) for ln in lines
    ]


def utc_text(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_entry(
    *,
    entry_id: int,
    prev_hash: str,
    kind: str,
    memo: str,
    effective_date: date,
    document_type: str | None,
    document_id: str | None,
    reverses_id: int | None,
    payload_digest: str | None,
    created_by: str,
    created_at: datetime,
    lines: Iterable[PostingLine],
) -> bytes:
    """The bytes an entry's hash covers: sorted keys, no spaces, UTF-8, postings in a fixed order."""
    doc: dict[str, Any] = {
        "id": entry_id,
        "prev_hash": prev_hash,
        "kind": kind,
        "memo": memo,
        "effective_date": effective_date.isoformat(),
        "document_type": document_type,
        "document_id": document_id,
        "reverses_id": reverses_id,
        "payload_digest": payload_digest,
        "created_by": created_by,
        "created_at": utc_text(created_at),
        "postings": sorted(list(ln.key()) for ln in lines),
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def entry_hash(canonical: bytes) -> str:
    return sha256_hex(canonical)


def leaf_digest(leaf: bytes) -> bytes:
    """A Merkle leaf node; recorded per payout line when it is sent, so a change can be named."""
    return hashlib.sha256(b"\x00" + leaf).digest()


def merkle_root(leaves: Iterable[bytes]) -> str:
    """Merkle root (SHA-256, odd node promoted) over the leaves; streams them once."""
    return merkle_root_of_hashes(leaf_digest(leaf) for leaf in leaves)


def merkle_root_of_hashes(hashes: Iterable[bytes]) -> str:
    """``merkle_root`` of leaves given by their leaf hashes (``leaf_digest``), streamed once.

    Kept as a stack of at most log2(n) pending nodes so a million lines use little memory.
    """
    stack: list[tuple[int, bytes]] = []  # (height, digest)
    count = 0
    for node in hashes:
        count += 1
        height = 0
        while stack and stack[-1][0] == height:
            _, left = stack.pop()
            node = hashlib.sha256(b"\x01" + left + node).digest()
            height += 1
        stack.append((height, node))
    if not count:
        return sha256_hex(b"")
    node = stack.pop()[1]
    while stack:
        _, left = stack.pop()
        node = hashlib.sha256(b"\x01" + left + node).digest()
    return node.hex()


# A fiscal period YYYYMM. The year is bounded so that date arithmetic on a period (ageing, look-back
# windows) can never leave the calendar: "000001" once crashed the audit report.
PERIOD_PATTERN = r"^(19|20)[0-9]{2}(0[1-9]|1[0-2])$"


def period_of(d: date) -> str:
    return f"{d.year:04d}{d.month:02d}"
