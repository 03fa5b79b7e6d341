"""Payout references: the database and the Python rule agree; one wrong character is caught."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from ledger.batches.references import ALPHABET, LIMIT, reference_for, reference_is_valid


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(n=st.integers(0, LIMIT - 1))
def test_database_and_python_compute_the_same_reference(session, n):
    ref = session.execute(text("SELECT payout_reference(:n)"), {"n": n}).scalar_one()
    assert ref == reference_for(n) and len(ref) <= 12 and ref.isascii()


@given(n=st.integers(0, LIMIT - 1), pos=st.integers(0, 9), char=st.sampled_from(ALPHABET))
def test_a_single_wrong_character_is_caught(n, pos, char):
    ref = reference_for(n)
    typo = ref[:pos] + char + ref[pos + 1 :]
    assert reference_is_valid(typo) == (typo == ref)


def test_the_database_refuses_a_number_out_of_range_and_inlines_the_rule(session):
    """The rule is one SQL expression the planner inlines (no call per line in a build), and a
    number that does not fit nine digits is refused by name."""
    plan = "\n".join(
        session.execute(
            text("EXPLAIN (VERBOSE) SELECT payout_reference(g) FROM generate_series(1, 3) g")
        ).scalars()
    )
    assert "payout_reference(" not in plan and "substr" in plan
    for n in (-1, LIMIT):
        with pytest.raises(DBAPIError, match="out of range"):
            session.execute(text("SELECT payout_reference(:n)"), {"n": n})
        session.rollback()
    assert session.execute(text("SELECT payout_reference(NULL)")).scalar_one() is None
