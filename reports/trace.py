"""The fund trace (资金追踪): where every yuan of one fund went in a jurisdiction's subtree and
period, from the allocation documents to the people paid.

Two parts. The **summary** is small: the posted allocation documents of the subtree for the
fund and the period's fiscal year, the transfers down the tree (from, to, amount, entry), and
the period's payment batches, each with its totals. The **payouts** are the big list, paged by
payout id: reference, the name masked as the disclosure prints it, amount, state, the entry
that last moved the line, the bank file and line that settled it (``payout_settlement``) and
the roster row (``roster_version``) in force for the person in that period. No ID number and no
account appear anywhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from ledger.pii import mask_name
from reports.data import STATE_LABELS
from reports.exports import Cell, Fen, Table
from reports.scope import Scope


@dataclass(frozen=True)
class TraceDocument:
    id: int
    doc_type: str
    number: str
    jurisdiction: str
    to_jurisdiction: str | None
    amount_fen: int
    effective_date: str
    entry_id: int | None


@dataclass(frozen=True)
class TraceBatch:
    id: int
    county: str
    bank: str
    status: str
    line_count: int
    total_fen: int
    release_entry_id: int | None
    paid_fen: int
    by_state: dict[str, int]


@dataclass(frozen=True)
class TraceSummary:
    jurisdiction: str
    fund: str
    period: str
    allocations: list[TraceDocument]
    transfers: list[TraceDocument]
    batches: list[TraceBatch]

    @property
    def allocated_fen(self) -> int:
        return sum(d.amount_fen for d in self.allocations)

    @property
    def transferred_fen(self) -> int:
        """What the subtree's own transfers sent down (to a jurisdiction of the subtree)."""
        return sum(d.amount_fen for d in self.transfers)

    @property
    def batched_fen(self) -> int:
        return sum(b.total_fen for b in self.batches if b.status == "released")

    @property
    def paid_fen(self) -> int:
        return sum(b.paid_fen for b in self.batches)


@dataclass(frozen=True)
class TracePayout:
    id: int
    reference: str
    batch_id: int
    county: str
    masked_name: str
    amount_fen: int
    state: str
    last_entry_id: int | None
    bank_file_id: int | None
    bank_file_line: int | None
    roster_version_id: int | None


_DOCUMENTS = (
    "SELECT id, doc_type, number, jurisdiction_code, to_jurisdiction, amount_fen, "
    "effective_date, entry_id FROM fund_document WHERE status = 'posted' AND doc_type = :t "
    "AND jurisdiction_code LIKE :pattern AND fund_code = :fund AND fiscal_year = :year "
    "AND (:t = 'allocation' OR to_jurisdiction LIKE :pattern) ORDER BY effective_date, id"
)


def _documents(session: Session, scope: Scope, fund: str, doc_type: str) -> list[TraceDocument]:
    rows = session.execute(
        text(_DOCUMENTS),
        {"t": doc_type, "pattern": scope.pattern, "fund": fund, "year": int(scope.period[:4])},
    )
    return [
        TraceDocument(
            int(r.id),
            r.doc_type,
            r.number,
            r.jurisdiction_code.strip(),
            r.to_jurisdiction.strip() if r.to_jurisdiction else None,
            int(r.amount_fen),
            r.effective_date.isoformat(),
            r.entry_id,
        )
        for r in rows
    ]


def trace_summary(session: Session, scope: Scope, fund: str) -> TraceSummary:
    """Allocations, transfers down the tree and batches of the subtree, fund and period."""
    batches = session.execute(
        text(
            "SELECT b.id, b.county_code, b.bank_code, b.status, b.line_count, b.total_fen, "
            "b.release_entry_id, COALESCE(jsonb_object_agg(s.state, s.fen) "
            "FILTER (WHERE s.state IS NOT NULL), '{}'::jsonb) AS by_state "
            "FROM payment_batch b LEFT JOIN LATERAL (SELECT state, sum(amount_fen) AS fen "
            "FROM payout WHERE batch_id = b.id GROUP BY state) s ON true "
            "WHERE b.county_code LIKE :pattern AND b.fund_code = :fund AND b.period = :period "
            "GROUP BY b.id ORDER BY b.id"
        ),
        {"pattern": scope.pattern, "fund": fund, "period": scope.period},
    )
    return TraceSummary(
        scope.jurisdiction,
        fund,
        scope.period,
        _documents(session, scope, fund, "allocation"),
        _documents(session, scope, fund, "transfer"),
        [
            TraceBatch(
                int(r.id),
                r.county_code.strip(),
                r.bank_code,
                r.status,
                int(r.line_count),
                int(r.total_fen),
                r.release_entry_id,
                int(r.by_state.get("paid", 0)),
                {k: int(v) for k, v in sorted(r.by_state.items())},
            )
            for r in batches
        ],
    )


_PAYOUTS = (
    "SELECT p.id, p.reference, p.batch_id, p.county_code, p.payee_name, p.amount_fen, p.state, "
    "p.last_entry_id, st.bank_file_id, st.line_no, rv.id AS roster_version_id "
    "FROM payout p "
    "LEFT JOIN LATERAL (SELECT bank_file_id, line_no FROM payout_settlement "
    "  WHERE payout_id = p.id ORDER BY id DESC LIMIT 1) st ON true "
    "LEFT JOIN LATERAL (SELECT id FROM roster_version WHERE county_code = p.county_code "
    "  AND fund_code = p.fund_code AND person_key = p.person_key AND valid_from <= p.period "
    "  ORDER BY valid_from DESC, id DESC LIMIT 1) rv ON true "
    "WHERE p.county_code LIKE :pattern AND p.fund_code = :fund AND p.period = :period "
    "AND p.id > :after ORDER BY p.id"
)


def _payout(r: Any) -> TracePayout:
    return TracePayout(
        int(r.id),
        r.reference,
        int(r.batch_id),
        r.county_code.strip(),
        mask_name(r.payee_name),
        int(r.amount_fen),
        r.state,
        r.last_entry_id,
        r.bank_file_id,
        r.line_no,
        r.roster_version_id,
    )


def trace_payouts(
    session: Session, scope: Scope, fund: str, *, after_id: int = 0, limit: int | None = None
) -> list[TracePayout]:
    """The payouts of the subtree, fund and period after ``after_id``, in id order."""
    sql = _PAYOUTS + ("" if limit is None else " LIMIT :limit")
    rows = session.execute(
        text(sql),
        {
            "pattern": scope.pattern,
            "fund": fund,
            "period": scope.period,
            "after": after_id,
            "limit": limit,
        },
    )
    return [_payout(r) for r in rows]


TRACE_HEADER = (
    "类别 kind", "编号 id", "文号/发放编号 number/reference", "拨出 from", "拨入 to/county",
    "批次 batch", "姓名 name", "金额 amount", "状态 state", "凭证 entry",
    "银行文件 bank file", "文件行 line", "花名册版本 roster version",
)  # fmt: skip


def trace_table(session: Session, scope: Scope, fund: str) -> Table:
    """The whole trace as one sheet, a ``kind`` column first: allocation, transfer, batch, then
    each payout (streamed from a server-side cursor)."""
    summary = trace_summary(session, scope, fund)
    payouts = session.execute(text(_PAYOUTS).execution_options(yield_per=5000), {
        "pattern": scope.pattern, "fund": fund, "period": scope.period, "after": 0,
    })  # fmt: skip

    def rows() -> Iterator[tuple[Cell, ...]]:
        for d in [*summary.allocations, *summary.transfers]:
            yield (d.doc_type, d.id, d.number, d.jurisdiction, d.to_jurisdiction, None, None,
                   Fen(d.amount_fen), None, d.entry_id, None, None, None)  # fmt: skip
        for b in summary.batches:
            yield ("batch", b.id, None, None, b.county, b.id, None, Fen(b.total_fen), b.status,
                   b.release_entry_id, None, None, None)  # fmt: skip
        for r in payouts:
            p = _payout(r)
            yield ("payout", p.id, p.reference, None, p.county, p.batch_id, p.masked_name,
                   Fen(p.amount_fen), STATE_LABELS.get(p.state, p.state), p.last_entry_id,
                   p.bank_file_id, p.bank_file_line, p.roster_version_id)  # fmt: skip

    return Table("资金追踪", TRACE_HEADER, rows())
