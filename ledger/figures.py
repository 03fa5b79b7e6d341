"""The figures every report and the API print (报表口径), defined once.

Fund flow of a (jurisdiction, fund) over a window of effective dates, read from the postings:

* own appropriation (本级拨款) = net credit to appropriation revenue;
* received from above (上级补助) = net credit to transfer in, reallocations (调剂) apart;
* reallocated in / out = transfer in / out posted by a reallocation between funds;
* sent below (补助下级) = net debit to transfer out, reallocations apart;
* paid to people (发放到人) = net debit to benefit expense (paid minus returned after payment);
* returned (退回) = money the bank gave back to special cash: credits to in transit that were not
  paid, plus credits to benefit expense;
* available (可用资金) = own appropriation + received from above + reallocated in − out;
* spent (支出) = sent below + paid to people;
* balance (结余) = available − spent: what the window left with this level, in special cash or
  still in transit at the bank;
* execution rate (执行率) = spent ÷ available, a percentage rounded ROUND_HALF_UP to two
  places (87.60), none when nothing is available.

Rolled up over a subtree, transfers inside it cancel: what the subtree received from above is
what its root received, and what it sent below is what left it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import text
from sqlalchemy.orm import Session

RATE_PLACES = Decimal("0.01")
RATE_NOTE = (
    "执行率 = 支出 ÷ 可用资金 × 100%，四舍五入保留两位小数；支出 = 补助下级 + 发放到人"
    "（已扣除支付后退回），可用资金 = 本级拨款 + 上级补助（+ 调剂净额）；在途款不计入支出。"
)


def execution_rate(spent_fen: int, available_fen: int) -> Decimal | None:
    """spent ÷ available as a percentage with two places, ROUND_HALF_UP; None if nothing is
    available. Integer fen in, Decimal out: no float touches money."""
    if available_fen <= 0:
        return None
    return (Decimal(spent_fen) * 100 / Decimal(available_fen)).quantize(
        RATE_PLACES, rounding=ROUND_HALF_UP
    )


def format_rate(rate: Decimal | None) -> str:
    """The rate as printed: ``87.60%``, or ``—`` when there is none."""
    return "—" if rate is None else f"{rate}%"


@dataclass(frozen=True)
class FlowFigures:
    """One node's fund flow over a window, in integer fen."""

    own_appropriation: int = 0
    received_from_above: int = 0
    reallocated_in: int = 0
    reallocated_out: int = 0
    sent_below: int = 0
    paid_to_people: int = 0
    returned: int = 0

    @property
    def available(self) -> int:
        return (
            self.own_appropriation
            + self.received_from_above
            + self.reallocated_in
            - self.reallocated_out
        )

    @property
    def spent(self) -> int:
        return self.sent_below + self.paid_to_people

    @property
    def balance(self) -> int:
        return self.available - self.spent

    @property
    def execution_rate(self) -> Decimal | None:
        return execution_rate(self.spent, self.available)

    def __add__(self, other: FlowFigures) -> FlowFigures:
        return FlowFigures(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        )

    def is_empty(self) -> bool:
        return not any(getattr(self, f.name) for f in fields(self))


def roll_up(root: FlowFigures, below: Iterable[FlowFigures]) -> FlowFigures:
    """The subtree of ``root`` as one node: inner transfers cancel."""
    total = root
    received_inside = 0
    for node in below:
        total = total + node
        received_inside += node.received_from_above
    return FlowFigures(
        own_appropriation=total.own_appropriation,
        received_from_above=root.received_from_above,
        reallocated_in=total.reallocated_in,
        reallocated_out=total.reallocated_out,
        sent_below=total.sent_below - received_inside,
        paid_to_people=total.paid_to_people,
        returned=total.returned,
    )


def flow_figures(
    session: Session, *, pattern: str, start: date, end: date, fund: str | None = None
) -> dict[tuple[str, str], FlowFigures]:
    """Each (jurisdiction, fund) whose code matches the SQL LIKE ``pattern``, over entries with
    ``start <= effective_date <= end``."""
    rows = session.execute(
        text(
            "SELECT a.jurisdiction_code AS j, a.fund_code AS f, a.kind, "
            "(e.kind = 'reallocation' OR e.document_type IS NOT DISTINCT FROM 'reallocation') AS re, "
            "COALESCE(sum(p.amount_fen) FILTER (WHERE p.side = 'D'), 0) AS dr, "
            "COALESCE(sum(p.amount_fen) FILTER (WHERE p.side = 'C'), 0) AS cr "
            "FROM posting p JOIN account a ON a.id = p.account_id "
            "JOIN journal_entry e ON e.id = p.entry_id "
            "WHERE a.jurisdiction_code LIKE :pattern "
            "AND (CAST(:fund AS text) IS NULL OR a.fund_code = :fund) "
            "AND e.effective_date >= :start AND e.effective_date <= :end AND a.kind IN "
            "('appropriation_revenue', 'transfer_in', 'transfer_out', 'benefit_expense', "
            "'in_transit') GROUP BY 1, 2, 3, 4"
        ),
        {"pattern": pattern, "fund": fund, "start": start, "end": end},
    ).all()
    sums: dict[tuple[str, str], dict[str, int]] = {}
    for r in rows:
        s = sums.setdefault((r.j.strip(), r.f), {})
        dr, cr = int(r.dr), int(r.cr)
        if r.kind == "appropriation_revenue":
            s["own_appropriation"] = s.get("own_appropriation", 0) + cr - dr
        elif r.kind == "transfer_in":
            name = "reallocated_in" if r.re else "received_from_above"
            s[name] = s.get(name, 0) + cr - dr
        elif r.kind == "transfer_out":
            name = "reallocated_out" if r.re else "sent_below"
            s[name] = s.get(name, 0) + dr - cr
        elif r.kind == "benefit_expense":
            s["paid_to_people"] = s.get("paid_to_people", 0) + dr - cr
            # Paid lines leave in transit for benefit expense; the rest of its credits returned.
            s["returned"] = s.get("returned", 0) + cr - dr
        else:
            s["returned"] = s.get("returned", 0) + cr
    return {key: FlowFigures(**s) for key, s in sums.items()}


# Payout lines by outcome. A line counts once, as its latest attempt: paid, in transit, or back
# from the bank waiting for its reissue. A failed line that was reissued is superseded by its
# new attempt; cancelled and draft lines were never released. Those are listed, never added.
OUTCOME_ORDER = ("paid", "sent", "failed", "returned", "reissued", "cancelled", "draft")
COUNTED_OUTCOMES = frozenset({"paid", "sent", "failed", "returned"})


@dataclass(frozen=True)
class Outcome:
    state: str
    count: int
    amount_fen: int

    @property
    def counted(self) -> bool:
        return self.state in COUNTED_OUTCOMES


def payout_outcomes(session: Session, *, pattern: str, period: str) -> list[Outcome]:
    """The period's payout lines of the counties matching ``pattern``, by state, in print order."""
    rows = session.execute(
        text(
            "SELECT state, count(*) AS n, COALESCE(sum(amount_fen), 0) AS fen FROM payout "
            "WHERE county_code LIKE :pattern AND period = :period GROUP BY state"
        ),
        {"pattern": pattern, "period": period},
    ).all()
    by_state = {r.state: Outcome(r.state, int(r.n), int(r.fen)) for r in rows}
    return [by_state[s] for s in OUTCOME_ORDER if s in by_state]


def counted_total(outcomes: Iterable[Outcome]) -> tuple[int, int]:
    """(lines, fen) of the lines that count: superseded, cancelled and draft lines never do."""
    counted = [o for o in outcomes if o.counted]
    return sum(o.count for o in counted), sum(o.amount_fen for o in counted)
