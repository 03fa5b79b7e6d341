"""Value types shared by the bank return-file parsers.

Everything here is pure data: no database, no I/O.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

Outcome = Literal["paid", "failed", "returned", "unknown"]
Kind = Literal["csv_return", "pain.002", "camt.054", "camt.053"]
CreditDebit = Literal["CRDT", "DBIT"]


class FileRejected(Exception):
    """A bank file that cannot be applied, with where and why.

    ``line`` is always a physical line of the received file (CSV row start, or the XML source
    line); ``field`` names the column or element at fault when there is one.
    """

    def __init__(self, reason: str, *, line: int | None = None, field: str | None = None):
        self.reason = reason
        self.line = line
        self.field = field
        super().__init__(str(self))

    def __str__(self) -> str:
        where = []
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.field:
            where.append(self.field)
        return f"{', '.join(where)}: {self.reason}" if where else self.reason


@dataclass(frozen=True, slots=True)
class ReturnLine:
    """One transaction outcome reported by the bank."""

    line_no: int  # 1-based physical CSV line, or 1-based transaction position in an XML file
    seq: int | None
    reference: str | None
    account: str | None
    name: str | None
    amount_fen: int | None
    currency: str
    outcome: Outcome
    reason: str | None
    raw_code: str | None
    raw_text: str | None
    batch_ref: str | None


@dataclass(frozen=True, slots=True)
class PaymentInfoStatus:
    """pain.002 OrgnlPmtInfAndSts: the status a payment block gives its unlisted lines."""

    pmt_inf_id: str | None
    status: str | None
    reason: str | None
    raw_code: str | None
    raw_text: str | None
    declared_count: int | None
    declared_total_fen: int | None
    listed: int


@dataclass(frozen=True, slots=True)
class StatementEntry:
    """One camt.053 Ntry."""

    amount_fen: int
    currency: str
    credit_debit: CreditDebit
    reversal: bool
    status: str | None
    booking_date: dt.date | None
    value_date: dt.date | None
    entry_ref: str | None
    account_servicer_ref: str | None
    batch_message_id: str | None
    batch_pmt_inf_id: str | None
    batch_count: int | None
    tx_count: int  # number of TxDtls actually present
    end_to_end_ids: tuple[str, ...]

    @property
    def signed_fen(self) -> int:
        return self.amount_fen if self.credit_debit == "CRDT" else -self.amount_fen


@dataclass(slots=True)
class Statement:
    """One camt.053 Stmt of an account. Balances are signed fen (credit positive)."""

    statement_id: str | None
    account_id: str | None
    currency: str | None
    from_date: dt.date | None
    to_date: dt.date | None
    opening_fen: int | None
    opening_date: dt.date | None
    closing_fen: int | None
    closing_date: dt.date | None
    entries: list[StatementEntry] = field(default_factory=list)

    @property
    def booked_movement_fen(self) -> int:
        """Net of the booked entries (credits positive)."""
        return sum(e.signed_fen for e in self.entries if e.status in (None, "BOOK"))

    @property
    def balances_reconcile(self) -> bool | None:
        """Opening + booked entries == closing; None when a balance is missing."""
        if self.opening_fen is None or self.closing_fen is None:
            return None
        return self.opening_fen + self.booked_movement_fen == self.closing_fen


@dataclass
class FileSummary:
    """What the file says about itself, next to what its lines add up to."""

    kind: Kind
    message_id: str | None = None
    original_message_id: str | None = None
    group_status: str | None = None
    declared_count: int | None = None
    declared_total_fen: int | None = None
    currency: str | None = None
    counted: int = 0
    counted_total_fen: int = 0
    statement: Statement | None = None
    # pain.002: group reason and per payment-block statuses for the unlisted lines.
    group_reason: str | None = None
    group_raw_code: str | None = None
    group_raw_text: str | None = None
    payment_infos: list[PaymentInfoStatus] = field(default_factory=list)
    # camt.053 with several Stmt blocks: all of them (``statement`` is the first).
    statements: list[Statement] = field(default_factory=list)
    # CSV: the title row above the header, and the physical line of the 合计 trailer.
    title: str | None = None
    trailer_line: int | None = None


# pain.002 status codes, for a listed transaction and for the lines a report does not list.
_PAID_TX = frozenset({"ACSC", "ACCC"})
_FAILED_TX = frozenset({"RJCT", "CANC"})
_ACCEPTED = frozenset({"ACCP", "ACSC", "ACSP", "ACTC", "ACWC", "ACWP", "ACCC", "ACFC", "PART"})


def tx_status_outcome(status: str | None) -> Outcome:
    """A listed pain.002 TxSts: RJCT failed, ACSC paid; accepted is not paid yet: unknown."""
    s = (status or "").strip().upper()
    if s in _PAID_TX:
        return "paid"
    if s in _FAILED_TX:
        return "failed"
    return "unknown"


def unlisted_outcome(status: str | None) -> Literal["accepted", "failed", "unknown"]:
    """What a group or payment-block status means for the lines a pain.002 does not list.

    ACCP/ACSC/ACSP/ACTC/ACWC (and PART: only the listed lines are rejected) -> 'accepted',
    which the caller settles by its own rule; RJCT -> 'failed'; PDNG, missing or other ->
    'unknown'.
    """
    s = (status or "").strip().upper()
    if s in _ACCEPTED:
        return "accepted"
    if s in _FAILED_TX:
        return "failed"
    return "unknown"


def unlisted_status(summary: FileSummary, batch_ref: str | None) -> str | None:
    """The status that applies to unlisted lines of payment block ``batch_ref``: the block's
    own PmtInfSts when it has one, else the group status."""
    for info in summary.payment_infos:
        if info.pmt_inf_id == batch_ref and info.status:
            return info.status
    return summary.group_status
