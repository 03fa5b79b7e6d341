"""The application's database role cannot rewrite history, even without the triggers."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy.orm import Session

from ledger.db import APP_ROLE
from tests.factories import fund_chain


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE journal_entry SET memo = 'x'",
        "DELETE FROM journal_entry",
        "UPDATE posting SET amount_fen = 1",
        "DELETE FROM posting",
        "UPDATE audit_log SET outcome = 'refused'",
        "DELETE FROM audit_log",
        "UPDATE payout_event SET to_state = 'paid'",
        "DELETE FROM payout",
        "DROP TABLE posting",
    ],
)
def test_app_role_cannot_change_history(session: Session, db_url: str, statement: str) -> None:
    fund_chain(session, "urban_minimum_living", {"440000": 100})
    with psycopg.connect(db_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        conn.execute(
            "SET session_replication_role = replica"
        )  # triggers off: only privileges remain
        conn.execute(f"SET ROLE {APP_ROLE}")
        with pytest.raises(
            (psycopg.errors.InsufficientPrivilege, psycopg.errors.InFailedSqlTransaction)
        ):
            conn.execute(statement)


def test_app_role_can_post(session: Session, db_url: str) -> None:
    from ledger.db import make_engine
    from ledger.domain import allocation_lines
    from ledger.journal.service import post_entry

    engine = make_engine(db_url)
    with Session(engine) as s:
        s.connection().exec_driver_sql(f"SET ROLE {APP_ROLE}")
        post_entry(
            s,
            kind="allocation",
            lines=allocation_lines("440000", "urban_minimum_living", 500),
            created_by="app",
        )
        s.commit()
    engine.dispose()
