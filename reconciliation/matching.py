"""Pure rules of settlement: what a bank outcome does to a payout in a given state.

One table decides every (state, outcome) pair; the service turns it into the SQL ``CASE`` that
settles a whole file at once, so the Python rule and the set-based path cannot drift apart.
"""

from __future__ import annotations

from typing import Literal

from ledger.domain import AccountKind, PostingLine, pair

Action = Literal[
    "paid", "failed", "returned", "duplicate", "conflict", "refused", "unknown", "accepted"
]
APPLYING: tuple[str, ...] = ("paid", "failed", "returned")
"""Actions that move a payout and post to the books."""
QUEUED: tuple[str, ...] = ("unmatched", "conflict", "refused", "amount_mismatch")
"""Line problems that go to the exceptions queue for a person."""

# (payout state, bank outcome) -> action. Anything absent is refused (and recorded).
TRANSITIONS: dict[tuple[str, str], Action] = {
    ("sent", "paid"): "paid",
    ("sent", "failed"): "failed",
    ("paid", "returned"): "returned",
    # The same news twice is a counted no-op.
    ("paid", "paid"): "duplicate",
    ("failed", "failed"): "duplicate",
    ("returned", "returned"): "duplicate",
    ("reissued", "failed"): "duplicate",
    ("reissued", "returned"): "duplicate",
    # Contradicting news goes to review and overwrites nothing.
    ("paid", "failed"): "conflict",
    ("failed", "paid"): "conflict",
    ("failed", "returned"): "conflict",
    ("returned", "paid"): "conflict",
    ("returned", "failed"): "conflict",
    ("reissued", "paid"): "conflict",
}
OUTCOMES = ("paid", "failed", "returned", "unknown")


def decide(state: str, outcome: str) -> Action:
    """What ``outcome`` from the bank does to a payout in ``state``.

    An unknown result never moves anything (it is never taken for a failure); a return for a
    line we still hold as sent, or any news on a draft, cancelled or reissued line, is refused.
    """
    if outcome == "unknown":
        return "unknown"
    return TRANSITIONS.get((state, outcome), "refused")


def decide_sql(state: str, outcome: str) -> str:
    """``decide`` as a SQL expression over two text columns."""
    arms = " ".join(f"WHEN '{s}/{o}' THEN '{a}'" for (s, o), a in sorted(TRANSITIONS.items()))
    return (
        f"CASE WHEN {outcome} = 'unknown' THEN 'unknown' "
        f"ELSE CASE {state} || '/' || {outcome} {arms} ELSE 'refused' END END"
    )


def settlement_lines(
    county: str,
    fund: str,
    *,
    paid_fen: int = 0,
    failed_fen: int = 0,
    returned_fen: int = 0,
    suspense_fen: int = 0,
    from_suspense: bool = False,
) -> list[PostingLine]:
    """The postings of one (county, fund) settlement, one pair per outcome (回盘 entries).

    paid: Dr benefit expense / Cr in transit; failed: Dr special cash / Cr in transit;
    returned after payment: Dr special cash / Cr benefit expense; bank money that matched no
    payout: Dr special cash / Cr suspense (暂存款, a liability until a person places it).
    ``from_suspense``: the money already sits in suspense (a hand match of a line whose money
    was parked there), so suspense is debited instead of special cash.
    """
    cash = AccountKind.suspense if from_suspense else AccountKind.special_cash
    lines: list[PostingLine] = []
    if paid_fen:
        lines += pair(county, fund, AccountKind.benefit_expense, AccountKind.in_transit, paid_fen)
    if failed_fen:
        lines += pair(county, fund, cash, AccountKind.in_transit, failed_fen)
    if returned_fen:
        lines += pair(county, fund, cash, AccountKind.benefit_expense, returned_fen)
    if suspense_fen:
        lines += pair(county, fund, AccountKind.special_cash, AccountKind.suspense, suspense_fen)
    return lines
