from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy.orm import Session

from ledger.domain import AccountKind, PostingLine, allocation_lines, transfer_lines
from ledger.errors import Conflict, InsufficientFunds, ValidationFailed
from ledger.journal import service
from ledger.journal.verify import verify
from tests.factories import finance_pair, fund_chain, posted_document, reversed_by_documents

FUND = "urban_minimum_living"


def test_worked_month_of_the_design(session: Session) -> None:
    """The worked example's transfers leave each book balanced with the stated cash."""
    fund_chain(session, FUND, {"440000": 1_000_000_00, "440100": 600_000_00, "440103": 200_000_00})
    cash = {j: service.special_cash(session, j, FUND) for j in ("440000", "440100", "440103")}
    assert cash == {"440000": 400_000_00, "440100": 400_000_00, "440103": 200_000_00}
    for j in cash:
        tb = service.trial_balance(session, jurisdiction=j)
        assert tb["balanced"]
    rolled = service.trial_balance(session, jurisdiction="440000", rollup=True)
    accounts = {a["kind"]: a for a in rolled["funds"][0]["accounts"]}
    # Inside the province's subtree the transfers cancel: 1,000,000 appropriated, all still cash.
    assert accounts["special_cash"]["debit_fen"] == 1_000_000_00
    assert (
        accounts["transfer_out"]["debit_fen"] == accounts["transfer_in"]["credit_fen"] == 800_000_00
    )
    assert verify(session).ok


def test_transfer_beyond_special_cash_is_refused_and_changes_nothing(session: Session) -> None:
    fund_chain(session, FUND, {"440000": 1000})
    with pytest.raises(InsufficientFunds):
        service.post_entry(
            session,
            kind="transfer",
            lines=transfer_lines("440000", "440100", FUND, 1001),
            created_by="t",
        )
    session.rollback()
    assert service.special_cash(session, "440000", FUND) == 1000
    assert service.special_cash(session, "440100", FUND) == 0


def test_unbalanced_lines_are_refused_before_the_database(session: Session) -> None:
    with pytest.raises(ValidationFailed):
        service.post_entry(
            session,
            kind="x",
            created_by="t",
            lines=[
                PostingLine("440000", FUND, AccountKind.special_cash, "D", 5),
                PostingLine(
                    "440000", "rural_minimum_living", AccountKind.appropriation_revenue, "C", 5
                ),
            ],
        )


def test_reversal_mirrors_and_happens_once(session: Session) -> None:
    maker, checker = finance_pair(session, "440000")
    doc = posted_document(session, maker, checker, amount_fen=500, fund=FUND)
    e = doc["entry_ids"][0]
    reversal = reversed_by_documents(session, maker, checker, e)
    r = reversal["entry_ids"][0]
    assert service.special_cash(session, "440000", FUND) == 0
    got = service.get_entry(session, r)
    assert got["reverses_id"] == e and got["document_type"] == "reversal"
    assert service.get_entry(session, e)["reversed_by"] == r
    with pytest.raises(Conflict):
        reversed_by_documents(session, maker, checker, e)
    session.rollback()
    with pytest.raises(Conflict):
        reversed_by_documents(session, maker, checker, r)


def test_reversal_that_would_overdraw_is_refused(session: Session) -> None:
    maker, checker = finance_pair(session, "440000")
    doc = posted_document(session, maker, checker, amount_fen=1000, fund=FUND)
    posted_document(
        session,
        maker,
        checker,
        amount_fen=600,
        fund=FUND,
        doc_type="transfer",
        to_jurisdiction="440100",
    )
    with pytest.raises(InsufficientFunds):  # 600 of the allocation already left
        reversed_by_documents(session, maker, checker, doc["entry_ids"][0])


def test_balance_as_of_a_date(session: Session) -> None:
    today = date.today()
    service.post_entry(
        session,
        kind="allocation",
        lines=allocation_lines("440000", FUND, 100),
        created_by="t",
        effective_date=today - timedelta(days=40),
    )
    service.post_entry(
        session,
        kind="allocation",
        lines=allocation_lines("440000", FUND, 250),
        created_by="t",
        effective_date=today,
    )
    session.commit()
    past = service.balances(
        session, jurisdiction="440000", fund=FUND, as_of=today - timedelta(days=1)
    )
    now = service.balances(session, jurisdiction="440000", fund=FUND)
    assert {r["kind"]: r["balance_fen"] for r in past}["special_cash"] == 100
    assert {r["kind"]: r["balance_fen"] for r in now}["special_cash"] == 350
    tb = service.trial_balance(session, jurisdiction="440000", as_of=today - timedelta(days=1))
    assert tb["funds"][0]["debit_fen"] == 100 and tb["balanced"]


def test_hash_chain_links_every_entry(session: Session) -> None:
    fund_chain(session, FUND, {"440000": 10_000, "440100": 5_000, "440103": 2_000})
    entries = [service.get_entry(session, i) for i in (1, 2, 3)]
    assert entries[0]["prev_hash"] == "0" * 64
    assert entries[1]["prev_hash"] == entries[0]["hash"]
    assert entries[2]["prev_hash"] == entries[1]["hash"]
    report = verify(session)
    assert report.ok and report.entry_count == 3 and report.chain_head == entries[2]["hash"]
