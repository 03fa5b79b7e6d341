"""Performance evaluation (绩效评价): each figure on crafted books, the ranking, the API and the
audit report's sections for reviews, complaints and performance."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from reports import performance
from reports.data import audit_data
from reports.findings import Thresholds
from reports.scope import Scope
from tests.factories import make_user
from tests.registers.notice import id_numbers
from tests.reports.books import Line, allocate, release, review_register, settle, transfer

URBAN = "urban_minimum_living"
T = Thresholds(idle_months=3, idle_min_fen=100, transfer_days=30, reissue_days=30,
               review_months=6, evidence_limit=50)  # fmt: skip
PEOPLE = id_numbers(3)


def _books(session: Session) -> None:
    allocate(session, "440000", URBAN, 10_000_00, date(2024, 5, 1))
    transfer(session, "440000", "440100", URBAN, 10_000_00, date(2024, 5, 2))
    transfer(session, "440100", "440103", URBAN, 2_000_00, date(2024, 5, 3))
    a, b = release(
        session, "440103", URBAN, "202405",
        [Line("甲一", 100_00, id_number=PEOPLE[0], household_id="H1"),
         Line("乙二", 100_00, id_number=PEOPLE[1], household_id="H2")],
        date(2024, 5, 10),
    )  # fmt: skip
    settle(session, paid=[a], failed=[b], on=date(2024, 5, 12))
    release(
        session, "440103", URBAN, "202406",
        [Line("乙二", 100_00, id_number=PEOPLE[1], household_id="H2", reissue_of=b),
         Line("甲一", 100_00, id_number=PEOPLE[0], household_id="H1")],
        date(2024, 6, 1),
    )  # fmt: skip
    review_register(session, [("440103", "H1", "2024-05-20")])


def test_each_figure_on_crafted_books(session: Session) -> None:
    _books(session)
    rows = {
        (p.jurisdiction, p.fund): p
        for p in performance.performance(session, Scope("440000", "202406"), T)
    }
    county = rows[("440103", URBAN)]
    assert county.days_to_people == Decimal("7.00")  # received 05-03, first release 05-10
    assert (county.failed, county.reissued_in_time, county.reissued_in_time_rate) == (
        1,
        1,
        Decimal("100.00"),
    )
    assert (
        county.payouts == 4
        and county.findings == 0
        and county.findings_per_thousand == Decimal("0.00")
    )
    assert (county.households, county.reviewed, county.review_coverage) == (2, 1, Decimal("50.00"))
    assert county.execution_rate == Decimal("5.00")  # 100 of 2,000 paid; June is in transit
    assert rows[("440100", URBAN)].execution_rate == Decimal("20.00")  # 2,000 of 10,000 sent down
    assert rows[("440100", URBAN)].days_to_people is None  # a city pays no people
    ranked = performance.ranking(list(rows.values()))
    assert [p.jurisdiction for _r, p in ranked] == ["440000", "440100", "440103"]


def test_the_api_and_the_audit_report_carry_them(client: Any, session: Session) -> None:
    _books(session)
    auditor = make_user(session, "auditor", "440000")
    r = client.get(
        "/jurisdictions/440000/performance", params={"period": "202406"}, headers=auditor.headers
    )
    assert r.status_code == 200, r.text
    county = next(p for p in r.json() if p["jurisdiction"] == "440103")
    assert county["review_coverage"] == "50.00" and county["rank"] == 3
    assert county["jurisdiction_name"] == "荔湾区"
    data, _ = audit_data(session, Scope("440103", "202406", date(2024, 6, 1)))
    (coverage,) = data.review_coverage
    assert (coverage.households, coverage.checked, coverage.visited) == (2, 1, 0)
    assert data.complaints.received == 0 and [p.rank for p in data.performance] == [1]
    finance = make_user(session, "finance", "440103")
    assert client.get("/jurisdictions/440000/performance", params={"period": "202406"},
                      headers=finance.headers).status_code == 403  # fmt: skip
