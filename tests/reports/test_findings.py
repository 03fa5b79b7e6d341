"""Each audit rule finds what it should on crafted books, and nothing else."""

from __future__ import annotations

from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.orm import Session

from ledger.journal.verify import verify
from ledger.spreadsheet import neutralise
from reports import findings
from reports.findings import Thresholds
from reports.scope import Scope, add_months
from tests.reports.books import (
    Line,
    allocate,
    release,
    return_paid,
    review_register,
    settle,
    transfer,
)

URBAN = "urban_minimum_living"
RURAL = "rural_minimum_living"
T = Thresholds(
    idle_months=3,
    idle_min_fen=100,
    transfer_days=30,
    reissue_days=30,
    review_months=6,
    evidence_limit=50,
)
JUNE = Scope("440000", "202406")


def test_idle_special_cash_is_the_money_untouched_for_the_whole_window(session: Session) -> None:
    allocate(session, "440000", URBAN, 1_000_000_00, date(2024, 1, 5))
    transfer(session, "440000", "440100", URBAN, 600_000_00, date(2024, 1, 6))
    transfer(session, "440100", "440103", URBAN, 600_000_00, date(2024, 1, 7))
    release(session, "440103", URBAN, "202405", [Line("张三", 600_000_00)], date(2024, 5, 20))
    allocate(session, "440000", RURAL, 500_000_00, date(2024, 6, 10))  # recent: not idle

    found = findings.special_cash_idle(session, JUNE, T)

    assert [(f.jurisdiction, f.fund) for f in found] == [("440000", URBAN)]
    assert found[0].evidence["idle_fen"] == 400_000_00
    assert found[0].evidence["since"] == "2024-03-30"
    assert "400000.00元" in found[0].message and "闲置超过3个月" in found[0].message
    # A county outside the scope is not looked at; the county itself spent its money in May.
    assert findings.special_cash_idle(session, Scope("440103", "202406"), T) == []


def test_idle_amount_is_the_lowest_balance_in_the_window(session: Session) -> None:
    allocate(session, "440000", URBAN, 900_00, date(2024, 1, 1))
    transfer(session, "440000", "440100", URBAN, 500_00, date(2024, 5, 1))
    allocate(session, "440000", URBAN, 10_000_00, date(2024, 5, 2))
    found = findings.special_cash_idle(session, JUNE, T)
    assert [f.evidence["idle_fen"] for f in found] == [400_00]


def test_transfer_not_paid_out_within_the_days_fifo(session: Session) -> None:
    allocate(session, "440000", URBAN, 1_000_000_00, date(2024, 5, 1))
    late = transfer(session, "440000", "440100", URBAN, 600_000_00, date(2024, 5, 1))
    transfer(session, "440100", "440103", URBAN, 200_000_00, date(2024, 5, 10))
    release(
        session,
        "440103",
        URBAN,
        "202405",
        [Line("张三", 150_000_00), Line("李四", 50_000_00, id_number="440103198001015678")],
        date(2024, 5, 20),
    )
    transfer(session, "440000", "440104", URBAN, 100_000_00, date(2024, 6, 15))  # not yet due

    found = findings.transfer_not_paid_out(session, JUNE, T)

    assert [(f.jurisdiction, f.evidence["entry_id"]) for f in found] == [("440100", late)]
    assert found[0].evidence["unpaid_fen"] == 400_000_00
    assert "及时足额" in found[0].message


def test_failed_payouts_not_reissued_within_the_days(session: Session) -> None:
    allocate(session, "440000", URBAN, 10_000_00, date(2024, 3, 1))
    transfer(session, "440000", "440100", URBAN, 10_000_00, date(2024, 3, 1))
    transfer(session, "440100", "440103", URBAN, 10_000_00, date(2024, 3, 1))
    a, b, c, e = release(
        session,
        "440103",
        URBAN,
        "202404",
        [
            Line("甲一", 100_00, id_number="A1"),
            Line("乙二", 200_00, id_number="B2"),
            Line("丙三", 300_00, id_number="C3"),
            Line("丁四", 400_00, id_number="E4"),
        ],
        date(2024, 4, 1),
    )
    settle(session, paid=[a, e], failed=[b, c], on=date(2024, 4, 3))
    release(
        session, "440103", URBAN, "202404", [Line("丙三", 300_00, id_number="C3", reissue_of=c)],
        date(2024, 4, 20),
    )  # fmt: skip
    return_paid(session, [e], date(2024, 4, 10))
    (d,) = release(session, "440103", URBAN, "202406", [Line("戊五", 50_00, id_number="D5")],
                   date(2024, 6, 1))  # fmt: skip
    settle(session, paid=[], failed=[d], on=date(2024, 6, 20))  # only 10 days before the end
    assert verify(session).ok

    found = findings.failed_not_reissued(session, JUNE, T)

    assert len(found) == 1
    assert found[0].jurisdiction == "440103"
    assert found[0].evidence["payout_ids"] == [b, e]
    assert found[0].evidence["amount_fen"] == 600_00
    assert found[0].evidence["oldest"] == "2024-04-03"


def test_information_check_overdue_judges_counties_that_record_reviews(session: Session) -> None:
    allocate(session, "440000", URBAN, 10_000_00, date(2024, 6, 1))
    transfer(session, "440000", "440100", URBAN, 10_000_00, date(2024, 6, 1))
    transfer(session, "440100", "440103", URBAN, 10_000_00, date(2024, 6, 1))
    release(
        session,
        "440103",
        URBAN,
        "202406",
        [
            Line("甲一", 100_00, id_number="A1", household_id="H1"),
            Line("乙二", 100_00, id_number="B2", household_id="H2"),
            Line("丙三", 100_00, id_number="C3", household_id="H3"),
        ],
        date(2024, 6, 2),
    )
    # a county that has recorded no review yet is not judged household by household
    assert findings.information_check_overdue(session, JUNE, T) == []

    review_register(
        session,
        [
            ("440103", "H1", "2024-03-01"),
            ("440103", "H2", "2023-10-01"),
            ("440103", "H2", "2023-06-01"),
        ],
    )
    review_register(session, [("440103", "H3", "2024-06-01")], kind="home_visit")
    found = findings.information_check_overdue(session, JUNE, T)
    assert [(f.jurisdiction, f.evidence["household_ids"]) for f in found] == [
        ("440103", ["H2", "H3"])
    ]
    assert found[0].evidence["never_reviewed"] == 1


def test_clean_books_have_no_findings(session: Session) -> None:
    allocate(session, "440000", URBAN, 1_000_00, date(2024, 6, 1))
    transfer(session, "440000", "440100", URBAN, 1_000_00, date(2024, 6, 1))
    transfer(session, "440100", "440103", URBAN, 1_000_00, date(2024, 6, 2))
    (p,) = release(session, "440103", URBAN, "202406", [Line("张三", 1_000_00)], date(2024, 6, 3))
    settle(session, paid=[p], on=date(2024, 6, 5))
    assert findings.evaluate(session, JUNE, T) == []


def test_batch_findings_are_surfaced_once_within_scope(session: Session) -> None:
    session.execute(
        text(
            "INSERT INTO finding (rule, severity, jurisdiction_code, fund_code, period, message, "
            "evidence) VALUES ('same_person_twice', 'blocking', '440103', :f, '202406', "
            "'同一人同一期重复发放', '{\"payout_ids\": [1, 2]}'), "
            "('paid_after_death', 'blocking', '440104', :f, '202406', '死亡后发放', '{}'), "
            "('same_person_twice', 'blocking', '440103', :f, '202405', '上月', '{}')"
        ),
        {"f": URBAN},
    )
    session.commit()
    allocate(session, "440000", URBAN, 1_000_00, date(2024, 1, 1))  # idle: a rule finding
    liwan = findings.all_findings(session, Scope("440103", "202406"))
    assert [(f.rule, f.jurisdiction) for f in liwan] == [("same_person_twice", "440103")]
    run = findings.run_findings(session, scope=Scope("440100", "202406"), run_by="auditor")
    assert run["finding_count"] == 0
    province = findings.all_findings(session, JUNE)
    assert [f.rule for f in province] == [
        "paid_after_death",
        "same_person_twice",
        "special_cash_idle",
    ]
    stored = findings.run_findings(session, scope=JUNE, run_by="auditor")
    assert [f.rule for f in findings.stored_run(session, run_id=stored["run_id"])] == [
        "special_cash_idle"
    ]
    # The stored run's rows are not mistaken for batch findings on the next evaluation.
    assert len(findings.all_findings(session, JUNE)) == 3


def test_csv_has_a_bom_and_neutralises_formulas() -> None:
    from ledger.checks.model import Finding

    rows = [
        Finding("r", "warning", "440103", '=HYPERLINK("http://x")', {"k": 1}),
        Finding("r", "info", "440103", "@SUM(A1)", fund="-1"),
        Finding("r", "info", "440103", "正常说明", period="202406"),
    ]
    data = findings.findings_csv(rows)
    assert data.startswith(b"\xef\xbb\xbf")
    body = data[3:].decode("utf-8")
    assert "'=HYPERLINK" in body and "'@SUM" in body and ",'-1," in body
    assert "正常说明" in body and body.count("\r\n") == 4


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=20))
def test_no_cell_starts_like_a_formula(cell: str) -> None:
    assert not neutralise(cell).startswith(("=", "+", "-", "@", "\t", "\r"))


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)), st.integers(-60, 60))
def test_add_months_lands_in_the_right_month(day: date, months: int) -> None:
    moved = add_months(day, months)
    assert (moved.year * 12 + moved.month) - (day.year * 12 + day.month) == months
    assert moved.day <= day.day
