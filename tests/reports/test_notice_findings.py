"""The notice's rules: reviews, holdings against the asset limit, holdings the last check did
not find, and 只增不减. Each fires on a planted case and not on a clean one."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.orm import Session

from ledger.registers import service as registers
from reports import findings
from reports.findings import Thresholds
from reports.scope import Scope, add_months
from tests.registers.notice import HOLDING_HEADER, LIMIT_HEADER, csv, id_numbers
from tests.reports.books import Line, allocate, release, review_register, transfer

URBAN = "urban_minimum_living"
T = Thresholds(
    idle_months=3,
    idle_min_fen=100,
    transfer_days=30,
    reissue_days=30,
    review_months=6,
    home_visit_months=12,
    evidence_limit=50,
)
JUNE = Scope("440103", "202406")
PEOPLE = id_numbers(3)
SAVED = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _paid(session: Session, *lines: Line) -> None:
    allocate(session, "440000", URBAN, 10_000_00, date(2024, 6, 1))
    transfer(session, "440000", "440100", URBAN, 10_000_00, date(2024, 6, 1))
    transfer(session, "440100", "440103", URBAN, 10_000_00, date(2024, 6, 1))
    release(session, "440103", URBAN, "202406", list(lines), date(2024, 6, 2))


def _holdings(session: Session, rows: list[tuple[str, str, int]]) -> None:
    """(id number, account, fen) reported by bank ICBCGD as of 2024-06-01."""
    lines = [f"{idn},某某,银行,ICBCGD,{acct},{fen / 100:.2f},2024-06-01" for idn, acct, fen in rows]
    registers.import_holdings(
        session,
        jurisdiction="440103",
        data=csv(HOLDING_HEADER, lines),
        filename="h.csv",
        imported_by="civil",
        bank_code=None,
    )


def _limit(session: Session, per_person_fen: int, jurisdiction: str = "440103") -> None:
    registers.import_register(
        session,
        kind="asset_limits",
        jurisdiction="440100",
        data=csv(LIMIT_HEADER, [f"{jurisdiction},2081901,202401,{per_person_fen / 100:.2f}"]),
        filename="l.csv",
        imported_by="civil",
    )


def test_household_holdings_above_the_limit_are_found(session: Session) -> None:
    _paid(
        session,
        Line("甲一", 100_00, id_number=PEOPLE[0], household_id="H1", household_size=2),
        Line("乙二", 100_00, id_number=PEOPLE[1], household_id="H2", household_size=1),
    )
    _limit(session, 5_000_00, jurisdiction="440100")  # the city's limit: the county has none
    _holdings(
        session,
        [(PEOPLE[0], "6222000011112222", 6_000_00), (PEOPLE[0], "6222000011113333", 4_000_01)],
    )
    _holdings(session, [(PEOPLE[1], "6222000011114444", 5_000_00)])  # at the limit: clean
    found = findings.holdings_above_limit(session, JUNE, T)
    assert [(f.evidence["household_id"], f.evidence["holdings_fen"]) for f in found] == [
        ("H1", 10_000_01)
    ]
    assert (
        found[0].evidence["limit_fen"] == 10_000_00 and len(found[0].evidence["holding_ids"]) == 2
    )


@SAVED
@given(value=st.integers(0, 100_000_00), per_person=st.integers(0, 50_000_00))
def test_holdings_above_limit_fires_exactly_above_limit_times_size(
    session: Session, value: int, per_person: int
) -> None:
    if not session.execute(text("SELECT count(*) FROM payout")).scalar():
        _paid(
            session, Line("甲一", 100_00, id_number=PEOPLE[0], household_id="H1", household_size=3)
        )
    nested = session.begin_nested()
    _limit(session, per_person)
    _holdings(session, [(PEOPLE[0], "6222000011112222", value)])
    found = findings.holdings_above_limit(session, JUNE, T)
    nested.rollback()
    assert bool(found) is (value > per_person * 3)


def _check(session: Session, assets_fen: int) -> None:
    registers.record_review(
        session,
        county="440103",
        household_id="H1",
        kind="information_check",
        reviewed_on=date(2024, 5, 1),
        outcome="符合条件",
        reviewer="王核查",
        assets_fen=assets_fen,
        recorded_by="civil",
    )


def test_a_holding_of_a_household_checked_as_having_none_is_found(session: Session) -> None:
    _paid(session, Line("甲一", 100_00, id_number=PEOPLE[0], household_id="H1"))
    _check(session, 0)
    _holdings(session, [(PEOPLE[0], "6222000011112222", 0)])
    assert findings.undeclared_holding(session, JUNE, T) == []  # an empty account is nothing
    _holdings(session, [(PEOPLE[0], "6222000011115555", 1_00)])
    (found,) = findings.undeclared_holding(session, JUNE, T)
    assert found.evidence["household_id"] == "H1" and found.evidence["holdings_fen"] == 1_00
    _check(session, 1_00)  # a later check that found it: the household declared what it holds
    assert findings.undeclared_holding(session, JUNE, T) == []


@SAVED
@given(days_before=st.integers(0, 800))
def test_home_visit_overdue_after_twelve_months(session: Session, days_before: int) -> None:
    if not session.execute(text("SELECT count(*) FROM payout")).scalar():
        _paid(session, Line("甲一", 100_00, id_number=PEOPLE[0], household_id="H1"))
    nested = session.begin_nested()
    visited = JUNE.as_of - timedelta(days=days_before)
    review_register(
        session, [("440103", "H1", visited.isoformat())], kind="home_visit", commit=False
    )
    found = findings.home_visit_overdue(session, JUNE, T)
    nested.rollback()
    assert bool(found) is (visited < add_months(JUNE.as_of, -12))
    assert all(f.rule == "home_visit_overdue" for f in found)


def test_an_own_appropriation_below_last_years_is_found(session: Session) -> None:
    allocate(session, "440000", URBAN, 1_000_00, date(2023, 3, 1))
    allocate(session, "440000", URBAN, 900_00, date(2024, 3, 1))
    allocate(session, "440100", URBAN, 500_00, date(2023, 3, 1))
    allocate(session, "440100", URBAN, 500_00, date(2024, 3, 1))  # the same: clean
    found = findings.appropriation_decreased(session, Scope("440000", "202506"), T)
    assert [(f.jurisdiction, f.evidence["fiscal_year"]) for f in found] == [("440000", 2024)]
    assert found[0].evidence == {
        "fiscal_year": 2024,
        "appropriated_fen": 900_00,
        "previous_fen": 1_000_00,
    }
    # the year is judged once it is complete: in 2024 itself, 2023 is compared with 2022
    assert findings.appropriation_decreased(session, Scope("440000", "202406"), T) == []
    assert findings.last_complete_year(date(2024, 12, 31)) == 2024
