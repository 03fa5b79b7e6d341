"""Fund flow (资金流向) of one fund and fiscal year: from above, own budget, down, to people.

Read from the postings, not from the documents, so batches and returns count as the books do.
Reallocations between funds (调剂) are shown on their own lines, never as transfers.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from ledger.access.audit import subtree_prefix
from ledger.figures import FlowFigures, flow_figures, roll_up
from ledger.money import fen_to_str

_SHOWN = (
    "received_from_above",
    "own_appropriation",
    "reallocated_in",
    "reallocated_out",
    "sent_below",
    "paid_to_people",
)


def public(fig: FlowFigures) -> dict[str, Any]:
    """The figures as the API shows them: yuan strings, the rate as a percentage string."""
    out: dict[str, Any] = {k: fen_to_str(getattr(fig, k)) for k in _SHOWN}
    out["available"] = fen_to_str(fig.available)
    out["balance"] = fen_to_str(fig.balance)
    rate = fig.execution_rate
    out["execution_rate"] = None if rate is None else str(rate)
    return out


def fund_flow(
    session: Session, *, jurisdiction: str, fund: str, fiscal_year: int
) -> dict[str, Any]:
    """The tree under ``jurisdiction``: each node's own figures and its subtree rolled up
    (``ledger.figures``: transfers inside the subtree cancel)."""
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
    figures = flow_figures(
        session,
        pattern=prefix + "%",
        fund=fund,
        start=date(fiscal_year, 1, 1),
        end=date(fiscal_year, 12, 31),
    )
    own = {code: figures.get((code, fund), FlowFigures()) for code in names}
    children: dict[str, list[str]] = {}
    for code, (_name, parent) in names.items():
        if parent is not None and code != jurisdiction:
            children.setdefault(parent, []).append(code)

    def node(code: str) -> tuple[dict[str, Any], list[FlowFigures]]:
        kids = [node(c) for c in children.get(code, [])]
        below = [f for k in kids for f in k[1]]
        return (
            {
                "jurisdiction": code,
                "name": names[code][0],
                "own": public(own[code]),
                "rolled_up": public(roll_up(own[code], below)),
                "children": [k[0] for k in kids],
            },
            [own[code], *below],
        )

    root, _ = node(jurisdiction)
    return {"fund": fund, "fiscal_year": fiscal_year, "root": root}
