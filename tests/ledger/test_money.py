from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from moneyed import CNY, Money

from ledger.money import (
    AmountError,
    fen_to_money,
    fen_to_str,
    money_to_fen,
    parse_amount_fen,
    split_fen,
)


@pytest.mark.parametrize(
    ("text", "fen"), [("0.01", 1), ("1", 100), ("1234.5", 123450), ("1000000.00", 100000000)]
)
def test_parse_amount_accepts_decimal_strings(text: str, fen: int) -> None:
    assert parse_amount_fen(text) == fen


@pytest.mark.parametrize(
    "bad",
    [1.5, 10, "1.234", "-1.00", "1e3", "abc", "", "0", "01.00", True, None, "99999999999999.00"],
)
def test_parse_amount_refuses_floats_third_decimal_negative_absurd(bad: object) -> None:
    with pytest.raises(AmountError):
        parse_amount_fen(bad)


@given(st.integers(min_value=0, max_value=10**15))
def test_fen_text_round_trip(fen: int) -> None:
    assert parse_amount_fen(fen_to_str(fen), allow_zero=True) == fen
    assert money_to_fen(fen_to_money(fen)) == fen


def test_money_refuses_other_currency_and_sub_fen() -> None:
    with pytest.raises(AmountError):
        money_to_fen(Money(Decimal("1.00"), "EUR"))
    with pytest.raises(AmountError):
        money_to_fen(Money(Decimal("1.001"), CNY))


@given(
    st.integers(min_value=0, max_value=10**12),
    st.lists(st.integers(min_value=0, max_value=1000), min_size=1, max_size=50).filter(
        lambda w: sum(w) > 0
    ),
)
def test_split_never_loses_or_creates_a_fen(total: int, weights: list[int]) -> None:
    shares = split_fen(total, weights)
    assert sum(shares) == total
    assert all(s >= 0 for s in shares)
    wsum = sum(weights)
    for s, w in zip(shares, weights, strict=True):
        assert abs(s - total * w / wsum) < 1 + 1e-9
