"""The settlement table: every (state, outcome) pair, in Python and in the SQL that applies it,
and the database refusing what the table refuses."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from ledger.payouts import STATES
from reconciliation.matching import OUTCOMES, decide, decide_sql
from tests.reconciliation.batches import released_batch

EXPECTED = {
    ("sent", "paid"): "paid",
    ("sent", "failed"): "failed",
    ("sent", "returned"): "refused",
    ("paid", "paid"): "duplicate",
    ("paid", "failed"): "conflict",
    ("paid", "returned"): "returned",
    ("failed", "paid"): "conflict",
    ("failed", "failed"): "duplicate",
    ("failed", "returned"): "conflict",
    ("returned", "paid"): "conflict",
    ("returned", "failed"): "conflict",
    ("returned", "returned"): "duplicate",
    ("reissued", "paid"): "conflict",
    ("reissued", "failed"): "duplicate",
    ("reissued", "returned"): "duplicate",
}


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("outcome", OUTCOMES)
def test_every_pair(state: str, outcome: str) -> None:
    # unknown is never treated as failed and moves nothing; draft/cancelled news is refused
    expected = "unknown" if outcome == "unknown" else EXPECTED.get((state, outcome), "refused")
    assert decide(state, outcome) == expected


def test_sql_agrees_with_python(session: Session) -> None:
    pairs = [(s, o) for s in STATES for o in OUTCOMES]
    rows = session.execute(
        text(
            f"SELECT s, o, {decide_sql('s', 'o')} AS a FROM unnest(CAST(:s AS text[]), "
            "CAST(:o AS text[])) AS t(s, o)"
        ),
        {"s": [p[0] for p in pairs], "o": [p[1] for p in pairs]},
    ).all()
    assert {(r.s, r.o): r.a for r in rows} == {p: decide(*p) for p in pairs}


@pytest.mark.parametrize("target", ["returned", "reissued", "draft", "cancelled"])
def test_database_refuses_what_the_table_refuses(session: Session, target: str) -> None:
    batch = released_batch(session, n=1)
    with pytest.raises(DBAPIError, match="cannot move"):
        session.execute(
            text("UPDATE payout SET state = :s WHERE batch_id = :b"), {"s": target, "b": batch.id}
        )
    session.rollback()
