"""Payout references: the database and the Python rule agree; one wrong character is caught."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

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
