"""Fund flow (资金流向) of one fund and fiscal year: from above, own budget, down, to people.

Read from the postings, not from the documents, so batches and returns count as the books do.
Reallocations between funds (调剂) are shown on their own lines, never as transfers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from ledger.access.audit import subtree_prefix
from ledger.money import fen_to_str


@dataclass
class Figures:
    received_from_above: int = 0
    own_appropriation: int = 0
    reallocated_in: int = 0
    reallocated_out: int = 0
    sent_below: int = 0
    paid_to_people: int = 0

    @property
    def available(self) -> int:
        return (
            self.received_from_above
            + self.own_appropriation
            + self.reallocated_in
            - self.reallocated_out
        )

    @property
    def balance(self) -> int:
        return self.available - self.sent_below - self.paid_to_people

    def public(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: fen_to_str(v) for k, v in vars(self).items()}
        out["available"] = fen_to_str(self.available)
        out["balance"] = fen_to_str(self.balance)
        out["execution_rate"] = execution_rate(self.paid_to_people, self.available)
        return out


def execution_rate(paid_fen: int, available_fen: int) -> str | None:
    """paid ÷ available to four places, as a string (no float ever touches money)."""
    if available_fen <= 0:
        return None
    rate = Decimal(paid_fen) / Decimal(available_fen)
    return str(rate.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP))


def fund_flow(
    session: Session, *, jurisdiction: str, fund: str, fiscal_year: int
) -> dict[str, Any]:
    """The tree under ``jurisdiction``: each node's own figures and its subtree rolled up.

    Rolled up, transfers inside the subtree cancel: what the subtree received from above is the
    root's receipt, and what it sent below is what left the subtree (zero when every transfer
    goes to a direct child).
    """
    prefix = subtree_prefix(jurisdiction)
    names = {
        r.code: (r.name, r.parent_code)
        for r in session.execute(
            text(
                "SELECT code, name, parent_code FROM jurisdiction "
                "WHERE code LIKE :p || '%' ORDER BY code"
            ),
            {"p": prefix},
        )
    }
    rows = session.execute(
        text(
            "SELECT a.jurisdiction_code AS j, a.kind, "
            "(e.kind = 'reallocation' OR e.document_type IS NOT DISTINCT FROM 'reallocation') AS re, "
            "sum(CASE p.side WHEN 'D' THEN p.amount_fen ELSE -p.amount_fen END) AS net "
            "FROM posting p JOIN account a ON a.id = p.account_id "
            "JOIN journal_entry e ON e.id = p.entry_id "
            "WHERE a.fund_code = :f AND a.jurisdiction_code LIKE :p || '%' "
            "AND e.effective_date >= :start AND e.effective_date < :end AND a.kind IN "
            "('appropriation_revenue', 'transfer_in', 'transfer_out', 'benefit_expense') "
            "GROUP BY 1, 2, 3"
        ),
        {
            "f": fund,
            "p": prefix,
            "start": date(fiscal_year, 1, 1),
            "end": date(fiscal_year + 1, 1, 1),
        },
    ).all()
    own: dict[str, Figures] = {code: Figures() for code in names}
    for r in rows:
        fig = own.setdefault(r.j, Figures())
        net = int(r.net)
        if r.kind == "appropriation_revenue":
            fig.own_appropriation -= net
        elif r.kind == "benefit_expense":
            fig.paid_to_people += net
        elif r.kind == "transfer_in":
            if r.re:
                fig.reallocated_in -= net
            else:
                fig.received_from_above -= net
        elif r.re:
            fig.reallocated_out += net
        else:
            fig.sent_below += net
    children: dict[str, list[str]] = {}
    for code, (_name, parent) in names.items():
        if parent is not None and code != jurisdiction:
            children.setdefault(parent, []).append(code)

    def node(code: str) -> tuple[dict[str, Any], Figures]:
        kids = [node(c) for c in children.get(code, [])]
        mine = own[code]
        rolled = Figures(
            received_from_above=mine.received_from_above,
            own_appropriation=mine.own_appropriation + sum(k[1].own_appropriation for k in kids),
            reallocated_in=mine.reallocated_in + sum(k[1].reallocated_in for k in kids),
            reallocated_out=mine.reallocated_out + sum(k[1].reallocated_out for k in kids),
            # What the children received came from inside the subtree; only the rest left it.
            sent_below=mine.sent_below
            + sum(k[1].sent_below for k in kids)
            - sum(k[1].received_from_above for k in kids),
            paid_to_people=mine.paid_to_people + sum(k[1].paid_to_people for k in kids),
        )
        return (
            {
                "jurisdiction": code,
                "name": names[code][0],
                "own": mine.public(),
                "rolled_up": rolled.public(),
                "children": [k[0] for k in kids],
            },
            rolled,
        )

    root, _ = node(jurisdiction)
    return {"fund": fund, "fiscal_year": fiscal_year, "root": root}
