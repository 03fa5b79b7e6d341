"""Fund flow of the design's worked month, and a property: rolled up, the tree's balance is the
money it still holds and transfers inside it cancel."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from ledger.documents.flow import fund_flow
from ledger.domain import AccountKind, pair, release_lines
from ledger.figures import execution_rate, format_rate
from ledger.journal.service import post_entry, special_cash
from tests.factories import fund_chain, make_user

FUND = "urban_minimum_living"
YEAR = date.today().year


def _node(tree: dict[str, Any], code: str) -> dict[str, Any]:
    if tree["jurisdiction"] == code:
        return tree
    for child in tree["children"]:
        found = _node(child, code) if code.startswith(child["jurisdiction"][:4]) else None
        if found:
            return found
    return {}


def test_worked_month_fund_flow(client: Any, session: Session) -> None:
    fund_chain(session, FUND, {"440000": 1_000_000_00, "440100": 600_000_00, "440103": 200_000_00})
    post_entry(
        session,
        kind="batch_release",
        lines=release_lines("440103", FUND, 180_000_00),
        created_by="t",
    )
    post_entry(
        session,
        kind="settlement",
        lines=pair("440103", FUND, AccountKind.benefit_expense, AccountKind.in_transit, 176_400_00)
        + pair("440103", FUND, AccountKind.special_cash, AccountKind.in_transit, 3_600_00),
        created_by="t",
    )
    post_entry(
        session,
        kind="settlement",
        lines=pair("440103", FUND, AccountKind.special_cash, AccountKind.benefit_expense, 1_200_00),
        created_by="t",
    )
    session.commit()
    auditor = make_user(session, "auditor", "440000")
    r = client.get(
        "/jurisdictions/440000/fund-flow",
        params={"fund": "城市最低生活保障", "fiscal_year": YEAR},
        headers=auditor.headers,
    )
    assert r.status_code == 200, r.text
    root = r.json()["root"]
    assert root["own"]["own_appropriation"] == "1000000.00"
    assert root["own"]["sent_below"] == "600000.00" and root["own"]["balance"] == "400000.00"
    assert root["rolled_up"]["available"] == "1000000.00"
    assert root["rolled_up"]["paid_to_people"] == "175200.00"
    assert root["rolled_up"]["sent_below"] == "0.00"
    assert root["rolled_up"]["execution_rate"] == "17.52"
    assert root["own"]["execution_rate"] == "60.00"  # 600,000 sent below of 1,000,000
    liwan = _node(root, "440103")
    assert liwan["own"]["received_from_above"] == "200000.00"
    assert liwan["own"]["balance"] == "24800.00"
    assert liwan["own"]["execution_rate"] == "87.60"
    gz = _node(root, "440100")
    assert gz["own"]["balance"] == "400000.00" and gz["rolled_up"]["balance"] == "424800.00"
    assert _node(root, "440303")["own"]["execution_rate"] is None
    last_year = fund_flow(session, jurisdiction="440000", fund=FUND, fiscal_year=YEAR - 1)
    assert last_year["root"]["rolled_up"]["available"] == "0.00"


def test_execution_rate_is_a_percentage_rounded_half_up() -> None:
    assert execution_rate(1, 3) == Decimal("33.33") and execution_rate(2, 3) == Decimal("66.67")
    assert execution_rate(1, 8) == Decimal("12.50") and execution_rate(1, 800) == Decimal("0.13")
    assert execution_rate(5, 0) is None
    assert format_rate(Decimal("87.60")) == "87.60%" and format_rate(None) == "—"


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    amounts=st.lists(
        st.tuples(st.integers(1, 10**6), st.integers(0, 10**6), st.integers(0, 10**6)),
        min_size=1,
        max_size=3,
    )
)
def test_rolled_up_balance_is_the_money_the_tree_holds(
    session: Session, amounts: list[tuple[int, int, int]]
) -> None:
    for a, b, c in amounts:
        b, c = min(a, b), min(a, b, c)
        chain = {"440000": a} | ({"440100": b} if b else {}) | ({"440103": c} if b and c else {})
        fund_chain(session, FUND, chain)
    flow = fund_flow(session, jurisdiction="440000", fund=FUND, fiscal_year=YEAR)["root"]
    held = sum(special_cash(session, j, FUND) for j in ("440000", "440100", "440103"))
    assert flow["rolled_up"]["balance"] == flow["rolled_up"]["available"]
    assert int(flow["rolled_up"]["balance"].replace(".", "")) == held
    assert flow["rolled_up"]["sent_below"] == "0.00"
