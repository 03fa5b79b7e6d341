"""The database itself refuses what would break the books, whatever client writes to it."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from ledger.domain import allocation_lines
from ledger.journal.service import post_entry
from tests.factories import fund_chain

FUND = "urban_minimum_living"


def _raw(db_url: str) -> psycopg.Connection:
    return psycopg.connect(db_url.replace("postgresql+psycopg://", "postgresql://"))


def _accounts(conn: psycopg.Connection) -> dict[str, int]:
    conn.execute(
        "INSERT INTO account (jurisdiction_code, fund_code, kind) VALUES "
        "('440000', %s, 'special_cash'), ('440000', %s, 'appropriation_revenue'), "
        "('440000', 'rural_minimum_living', 'appropriation_revenue') ON CONFLICT DO NOTHING",
        (FUND, FUND),
    )
    rows = conn.execute(
        "SELECT fund_code || ':' || kind, id FROM account WHERE jurisdiction_code = '440000'"
    )
    return dict(rows.fetchall())


def _entry(conn: psycopg.Connection) -> int:
    seq, head = conn.execute("SELECT seq, hash FROM chain_head").fetchone()
    conn.execute(
        "INSERT INTO journal_entry (id, kind, effective_date, period, created_by, created_at, prev_hash, hash) "
        "VALUES (%s, 'raw', current_date, to_char(current_date, 'YYYYMM'), 'raw', now(), %s, %s)",
        (seq + 1, head, f"{seq + 1:064x}"),
    )
    return seq + 1


def test_unbalanced_entry_by_raw_sql_fails_at_commit(db_url: str) -> None:
    with _raw(db_url) as conn:
        acc = _accounts(conn)
        conn.commit()
        e = _entry(conn)
        conn.execute(
            "INSERT INTO posting (entry_id, account_id, side, amount_fen) VALUES (%s, %s, 'D', 100)",
            (e, acc[f"{FUND}:special_cash"]),
        )
        conn.execute(
            "INSERT INTO posting (entry_id, account_id, side, amount_fen) VALUES (%s, %s, 'C', 99)",
            (e, acc[f"{FUND}:appropriation_revenue"]),
        )
        with pytest.raises(psycopg.errors.CheckViolation, match="does not balance"):
            conn.commit()


def test_entry_balanced_in_total_but_across_funds_is_refused(db_url: str) -> None:
    """Debit one fund, credit another: balanced overall, but 专款专用 forbids it."""
    with _raw(db_url) as conn:
        acc = _accounts(conn)
        conn.commit()
        e = _entry(conn)
        conn.execute(
            "INSERT INTO posting (entry_id, account_id, side, amount_fen) VALUES (%s, %s, 'D', 100)",
            (e, acc[f"{FUND}:special_cash"]),
        )
        conn.execute(
            "INSERT INTO posting (entry_id, account_id, side, amount_fen) VALUES (%s, %s, 'C', 100)",
            (e, acc["rural_minimum_living:appropriation_revenue"]),
        )
        with pytest.raises(psycopg.errors.CheckViolation, match="does not balance"):
            conn.commit()


def test_entry_without_postings_is_refused(db_url: str) -> None:
    with _raw(db_url) as conn:
        _entry(conn)
        with pytest.raises(psycopg.errors.CheckViolation, match="at least two"):
            conn.commit()


def test_chain_must_be_extended_in_order(db_url: str) -> None:
    with (
        _raw(db_url) as conn,
        pytest.raises(psycopg.errors.SerializationFailure, match="does not extend"),
    ):
        conn.execute(
            "INSERT INTO journal_entry (id, kind, effective_date, period, created_by, created_at, prev_hash, hash) "
            "VALUES (7, 'raw', current_date, to_char(current_date, 'YYYYMM'), 'raw', now(), %s, %s)",
            ("0" * 64, "1" * 64),
        )


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE posting SET amount_fen = amount_fen + 1",
        "DELETE FROM posting",
        "UPDATE journal_entry SET memo = 'changed'",
        "DELETE FROM journal_entry",
        "TRUNCATE posting CASCADE",
        "TRUNCATE journal_entry CASCADE",
    ],
)
def test_journal_is_append_only(session: Session, db_url: str, statement: str) -> None:
    fund_chain(session, FUND, {"440000": 1000})
    with (
        _raw(db_url) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"),
    ):
        conn.execute(statement)


def test_posting_cannot_join_a_committed_entry(session: Session, db_url: str) -> None:
    fund_chain(session, FUND, {"440000": 1000})
    with _raw(db_url) as conn:
        acc = _accounts(conn)
        with pytest.raises(psycopg.errors.RaiseException, match="another transaction"):
            conn.execute(
                "INSERT INTO posting (entry_id, account_id, side, amount_fen) VALUES (1, %s, 'D', 5)",
                (acc[f"{FUND}:special_cash"],),
            )


def test_special_cash_cannot_go_negative_even_by_raw_sql(session: Session, db_url: str) -> None:
    fund_chain(session, FUND, {"440000": 1000})
    with _raw(db_url) as conn:
        acc = _accounts(conn)
        conn.execute(
            "INSERT INTO account (jurisdiction_code, fund_code, kind) VALUES ('440000', %s, 'transfer_out')"
            " ON CONFLICT DO NOTHING",
            (FUND,),
        )
        out = conn.execute(
            "SELECT id FROM account WHERE jurisdiction_code='440000' AND fund_code=%s "
            "AND kind='transfer_out'",
            (FUND,),
        ).fetchone()[0]
        e = _entry(conn)
        conn.execute(
            "INSERT INTO posting (entry_id, account_id, side, amount_fen) VALUES (%s, %s, 'D', 1001)",
            (e, out),
        )
        with pytest.raises(psycopg.errors.CheckViolation, match="special_cash_not_negative"):
            conn.execute(
                "INSERT INTO posting (entry_id, account_id, side, amount_fen) VALUES (%s, %s, 'C', 1001)",
                (e, acc[f"{FUND}:special_cash"]),
            )


def test_closed_period_takes_no_postings(session: Session) -> None:
    from datetime import date

    from ledger.errors import PeriodClosed
    from ledger.journal.service import close_period

    close_period(session, period="202401", closed_by="test")
    session.commit()
    with pytest.raises(PeriodClosed):
        post_entry(
            session,
            kind="allocation",
            lines=allocation_lines("440000", FUND, 100),
            created_by="t",
            effective_date=date(2024, 1, 15),
        )
    session.rollback()
    post_entry(
        session,
        kind="allocation",
        lines=allocation_lines("440000", FUND, 100),
        created_by="t",
        effective_date=date(2024, 2, 1),
    )
    session.commit()
    # Raw SQL into the closed period is refused by the trigger too.
    with pytest.raises(Exception, match="closed"):
        session.execute(
            text(
                "INSERT INTO journal_entry (id, kind, effective_date, period, created_by, created_at, prev_hash, hash) "
                "SELECT seq + 1, 'raw', DATE '2024-01-20', '202401', 'raw', now(), hash, repeat('a', 64) FROM chain_head"
            )
        )
