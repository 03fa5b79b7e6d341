"""An edit made behind the triggers' back is found by verify, which names the entry."""

from __future__ import annotations

import subprocess
import sys

import psycopg
from sqlalchemy import text
from sqlalchemy.orm import Session

from ledger.journal.verify import verify
from ledger.pii import account_key
from tests.factories import fund_chain

FUND = "urban_minimum_living"


def _tamper(db_url: str, sql: str) -> None:
    with psycopg.connect(db_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        conn.execute("SET session_replication_role = replica")  # disables the triggers
        conn.execute(sql)


def test_clean_books_verify(session: Session) -> None:
    fund_chain(session, FUND, {"440000": 9000, "440100": 4000, "440103": 1000})
    assert verify(session).ok


def test_edited_posting_is_named(session: Session, db_url: str) -> None:
    fund_chain(session, FUND, {"440000": 9000, "440100": 4000, "440103": 1000})
    _tamper(db_url, "UPDATE posting SET amount_fen = 3000 WHERE entry_id = 2 AND side = 'D'")
    report = verify(session)
    assert not report.ok
    assert report.first_broken_entry == 2
    assert any("entry 2" in p for p in report.problems)


def test_edited_memo_and_deleted_entry_are_found(session: Session, db_url: str) -> None:
    fund_chain(session, FUND, {"440000": 9000, "440100": 4000, "440103": 1000})
    _tamper(db_url, "UPDATE journal_entry SET memo = 'hidden' WHERE id = 3")
    assert verify(session).first_broken_entry == 3
    _tamper(
        db_url, "DELETE FROM posting WHERE entry_id = 2; DELETE FROM journal_entry WHERE id = 2"
    )
    report = verify(session)
    assert report.first_broken_entry == 2 and not report.ok


def test_cli_verify_exits_non_zero_naming_the_entry(session: Session, db_url: str) -> None:
    fund_chain(session, FUND, {"440000": 9000, "440100": 4000})
    env = {"LEDGER_DATABASE_URL": db_url, "PATH": "/usr/bin:/bin"}
    ok = subprocess.run(
        [sys.executable, "-m", "ledger", "verify", "--json"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stderr
    _tamper(db_url, "UPDATE posting SET amount_fen = 1 WHERE entry_id = 1 AND side = 'C'")
    bad = subprocess.run(
        [sys.executable, "-m", "ledger", "verify", "--json"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 1
    assert '"first_broken_entry": 1' in bad.stdout


def test_changed_payout_line_is_named(session: Session, db_url: str) -> None:
    from tests.factories import released_batch

    fund_chain(session, FUND, {"440000": 90_000, "440100": 40_000, "440103": 10_000})
    batch = released_batch(
        session,
        county="440103",
        fund=FUND,
        period="202611",
        bank="TESTBK",
        amounts=[1000, 2000, 3000],
    )
    assert verify(session).ok
    _tamper(
        db_url,
        f"UPDATE payout SET account_key = '{account_key('6222999999999999')}' "
        f"WHERE batch_id = {batch} AND seq = 2",
    )
    report = verify(session)
    assert not report.ok
    assert any(f"batch {batch}, line 2" in p for p in report.problems), report.problems


def test_changed_or_removed_audit_log_row_is_named(session: Session, db_url: str) -> None:
    from sqlalchemy import text

    for i in range(3):
        session.execute(
            text("INSERT INTO audit_log (action, outcome, username) VALUES (:a, 'accepted', 'u')"),
            {"a": f"act{i}"},
        )
    session.commit()
    assert verify(session).ok
    row = session.execute(text("SELECT id FROM audit_log WHERE seq = 2")).scalar()
    _tamper(db_url, f"UPDATE audit_log SET outcome = 'refused' WHERE id = {row}")
    report = verify(session)
    assert any(f"audit_log row {row}" in p for p in report.problems), report.problems
    _tamper(db_url, "DELETE FROM audit_log WHERE seq = 3")
    assert any("chain head" in p for p in verify(session).problems)


def test_a_payout_missing_from_the_live_registry_is_named(session: Session, db_url: str) -> None:
    from tests.factories import released_batch

    fund_chain(session, FUND, {"440000": 90_000, "440100": 40_000, "440103": 10_000})
    batch = released_batch(
        session, county="440103", fund=FUND, period="202611", bank="TESTBK", amounts=[1000, 2000]
    )
    assert verify(session).ok
    (payout_id,) = session.execute(
        text("SELECT id FROM payout WHERE batch_id = :b AND seq = 2"), {"b": batch}
    ).one()
    _tamper(db_url, f"DELETE FROM payout_live WHERE payout_id = {payout_id}")
    report = verify(session)
    assert not report.ok
    assert f"payout {payout_id} is sent but not registered as live" in report.problems
