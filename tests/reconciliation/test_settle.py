"""Settling payouts from return files, through the service: the books, the subledger, replays,
disagreeing files, pain.002 group statuses, late returns, suspense and rejected files."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from ledger.errors import ValidationFailed
from ledger.journal.verify import verify
from reconciliation.service import check_suspense, import_bank_file
from reconciliation.simulate import SimLine, write_camt054_returns, write_csv_return, write_pain002
from tests.reconciliation.batches import Batch, released_batch


def balances(session: Session, batch: Batch) -> dict[str, int]:
    rows = session.execute(
        text(
            "SELECT kind, balance_fen FROM account WHERE jurisdiction_code = :c AND fund_code = :f"
        ),
        {"c": batch.county, "f": batch.fund},
    )
    return {r.kind: r.balance_fen for r in rows}


def states(session: Session, batch: Batch) -> dict[str, int]:
    rows = session.execute(
        text("SELECT state, count(*) FROM payout WHERE batch_id = :b GROUP BY 1"), {"b": batch.id}
    )
    return {r[0]: r[1] for r in rows}


def assert_books_agree(session: Session) -> None:
    """In transit = Σ sent and benefit expense = Σ paid per (county, fund); verify passes."""
    session.rollback()
    report = verify(session)
    check_suspense(session, report)
    assert report.ok, report.problems
    rows = session.execute(
        text(
            "SELECT a.jurisdiction_code, a.fund_code, "
            "sum(a.balance_fen) FILTER (WHERE a.kind = 'in_transit') AS transit, "
            "sum(a.balance_fen) FILTER (WHERE a.kind = 'benefit_expense') AS expense, "
            "(SELECT COALESCE(sum(amount_fen), 0) FROM payout p WHERE p.state = 'sent' "
            " AND p.county_code = a.jurisdiction_code AND p.fund_code = a.fund_code) AS sent, "
            "(SELECT COALESCE(sum(amount_fen), 0) FROM payout p WHERE p.state = 'paid' "
            " AND p.county_code = a.jurisdiction_code AND p.fund_code = a.fund_code) AS paid "
            "FROM account a GROUP BY 1, 2"
        )
    ).all()
    for r in rows:
        assert (r.transit or 0) == r.sent, r
        assert (r.expense or 0) == r.paid, r


def imp(session: Session, data: bytes, **kw) -> dict:
    """Import and commit, as the unit of work does; a refusal rolls everything back."""
    kw.setdefault("uploaded_by", "bank-user")
    try:
        result = import_bank_file(session, data=data, **kw)
    except Exception:
        session.rollback()
        raise
    session.commit()
    return result


def test_csv_return_settles_paid_and_failed(session: Session) -> None:
    batch = released_batch(session, n=20)
    failed = {3: "账号不存在", 7: "已销户", 11: "户名不符"}
    data = write_csv_return(batch.sim(failed), encoding="gbk")
    before = balances(session, batch)
    result = imp(session, data, bank_code="ICBCGD")
    assert result["counts"]["paid"] == 17 and result["counts"]["failed"] == 3
    assert result["failed_by_reason"] == {
        "account_closed": 1,
        "account_invalid": 1,
        "name_mismatch": 1,
    }
    assert len(result["entries"]) == 1 and result["batch_id"] == batch.id
    failed_fen = sum(p.amount_fen for p in batch.payouts if p.seq in failed)
    after = balances(session, batch)
    assert after["in_transit"] == 0
    assert after["benefit_expense"] == batch.total_fen - failed_fen
    assert after["special_cash"] - before["special_cash"] == failed_fen
    assert states(session, batch) == {"paid": 17, "failed": 3}
    row = session.execute(
        text(
            "SELECT reason_code, raw_text, last_entry_id FROM payout WHERE batch_id = :b AND seq = 7"
        ),
        {"b": batch.id},
    ).one()
    assert row.reason_code == "account_closed" and row.raw_text == "已销户"
    assert row.last_entry_id == result["entries"][0]
    entry = session.execute(
        text("SELECT kind, document_type, payload_digest FROM journal_entry WHERE id = :e"),
        {"e": result["entries"][0]},
    ).one()
    assert (entry.kind, entry.document_type, entry.payload_digest) == (
        "settlement",
        "bank_file",
        result["sha256"],
    )
    assert_books_agree(session)


def test_replaying_the_same_file_applies_nothing(session: Session) -> None:
    batch = released_batch(session, n=5)
    data = write_csv_return(batch.sim({2: "冻结"}))
    first = imp(session, data)
    entries = session.execute(text("SELECT count(*) FROM journal_entry")).scalar_one()
    again = imp(session, data)
    assert again["replayed"] and again["file_id"] == first["file_id"]
    assert session.execute(text("SELECT count(*) FROM journal_entry")).scalar_one() == entries
    assert session.execute(text("SELECT count(*) FROM bank_file")).scalar_one() == 1
    assert_books_agree(session)


def test_two_files_that_disagree_go_to_review(session: Session) -> None:
    batch = released_batch(session, n=6)
    imp(session, write_csv_return(batch.sim({1: "账号错误"})))
    # A second file (other bytes: no title) says line 1 was paid and line 2 failed.
    second = imp(session, write_csv_return(batch.sim({2: "冻结"}), title=None))
    c = second["counts"]
    assert c["conflict"] == 2 and c["duplicate"] == 4 and c["paid"] == 0 and c["failed"] == 0
    assert second["entries"] == []
    assert states(session, batch) == {"paid": 5, "failed": 1}
    queued = session.execute(
        text("SELECT problem, payout_state, outcome FROM recon_exception ORDER BY line_no")
    ).all()
    assert [(q.problem, q.payout_state, q.outcome) for q in queued] == [
        ("conflict", "failed", "paid"),
        ("conflict", "paid", "failed"),
    ]
    assert_books_agree(session)


def test_pain002_unlisted_lines_take_the_group_status(session: Session) -> None:
    batch = released_batch(session, n=8, bank="RCCGD")
    lines = batch.sim({4: "account closed"})
    # PART: only the listed line is rejected; the rest are accepted, not paid: they stay sent.
    part = imp(session, write_pain002("MSG1", lines), bank_code="RCCGD")
    assert part["counts"]["failed"] == 1 and part["counts"]["accepted"] == 7
    assert states(session, batch) == {"sent": 7, "failed": 1}
    # ACSC on the group: settlement completed, the unlisted lines are paid.
    done = imp(
        session,
        write_pain002("MSG1", lines, group_status="ACSC", message_id="S2"),
        bank_code="RCCGD",
    )
    assert done["counts"]["paid"] == 7 and done["counts"]["duplicate"] == 1
    assert states(session, batch) == {"paid": 7, "failed": 1}
    assert_books_agree(session)


def test_late_return_in_camt054_references_the_original(session: Session) -> None:
    batch = released_batch(session, n=4)
    paid = imp(session, write_csv_return(batch.sim()))
    p = batch.payouts[2]
    line = SimLine(None, p.reference, p.account, p.name, p.amount_fen, "failed", "deceased", "MD07")
    ret = imp(session, write_camt054_returns("ACC", [line], dt.date(2026, 2, 3)))
    assert ret["counts"]["returned"] == 1
    row = session.execute(
        text("SELECT state, reason_code FROM payout WHERE id = :p"), {"p": p.id}
    ).one()
    assert (row.state, row.reason_code) == ("returned", "beneficiary_deceased")
    memo = session.execute(
        text("SELECT memo FROM journal_entry WHERE id = :e"), {"e": ret["entries"][0]}
    ).scalar_one()
    assert f"paid by entries {paid['entries'][0]}" in memo
    assert balances(session, batch)["benefit_expense"] == batch.total_fen - p.amount_fen
    assert_books_agree(session)


def test_unmatched_money_goes_to_suspense_and_the_queue(session: Session) -> None:
    batch = released_batch(session, n=5)
    lines = batch.sim({5: "账号不存在"}, refs=False)
    # Line 5 lost its 序号 and account: nothing identifies it, its money is parked.
    lines[4] = SimLine(None, None, "999", "无名氏", lines[4].amount_fen, "failed", "账号不存在")
    result = imp(session, write_csv_return(lines), batch_id=batch.id, bank_code="ICBCGD")
    assert result["counts"]["paid"] == 4 and result["counts"]["unmatched"] == 1
    b = balances(session, batch)
    assert b["suspense"] == -batch.payouts[4].amount_fen
    x = session.execute(text("SELECT * FROM recon_exception")).mappings().one()
    assert x["problem"] == "unmatched" and x["suspense_fen"] == batch.payouts[4].amount_fen
    assert x["suggested_payout_id"] == batch.payouts[4].id  # the only sent one of that amount
    assert_books_agree(session)


def test_matching_by_seq_and_by_account(session: Session) -> None:
    batch = released_batch(session, n=4)
    lines = batch.sim(refs=False)
    # Line 2 lost its 序号 too, and the bank wrote the name with full-width spaces.
    l2 = lines[1]
    lines[1] = SimLine(
        None, None, l2.account, l2.name[:1] + "\u3000" + l2.name[1:], l2.amount_fen, "paid"
    )
    result = imp(session, write_csv_return(lines), batch_id=batch.id, bank_code="ICBCGD")
    assert result["counts"]["paid"] == 4
    sources = session.execute(
        text("SELECT DISTINCT source FROM payout_event WHERE to_state = 'paid'")
    ).scalars()
    assert list(sources) == [f"bank_file:{result['file_id']}"]
    assert_books_agree(session)


def test_rejected_files_change_nothing(session: Session) -> None:
    batch = released_batch(session, n=3)
    bad_total = write_csv_return(batch.sim(), trailer=False) + "合计,3笔,1.00\r\n".encode("gbk")
    with pytest.raises(ValidationFailed) as err:
        imp(session, bad_total)
    assert err.value.details[0]["line"] is not None
    assert session.execute(text("SELECT count(*) FROM bank_file")).scalar_one() == 0
    assert states(session, batch) == {"sent": 3}
