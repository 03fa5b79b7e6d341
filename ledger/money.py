"""Money: integer fen (分) in the database, decimal strings at the API, ``Money`` in the domain."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any

from moneyed import CNY, Money
from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

# Large enough for a province's annual budget many times over, small enough to stay far from
# BIGINT overflow when thousands of amounts are summed.
MAX_FEN = 10**15
_AMOUNT_RE = re.compile(r"^(0|[1-9]\d{0,13})(\.\d{1,2})?$")


class AmountError(ValueError):
    pass


def parse_amount_fen(value: Any, *, allow_zero: bool = False) -> int:
    """Parse a decimal string such as ``"1234.50"`` into fen, refusing floats and a third decimal."""
    if isinstance(value, bool) or not isinstance(value, str):
        raise AmountError('amount must be a decimal string such as "1234.50", not a number')
    text = value.strip()
    if not _AMOUNT_RE.match(text):
        raise AmountError(f"amount {value!r} is not a non-negative decimal with at most 2 places")
    fen = check_fen_range(int(Decimal(text) * 100), value)
    if fen == 0 and not allow_zero:
        raise AmountError("amount must be greater than zero")
    return fen


def check_fen_range(fen: int, written: object = None) -> int:
    """The one bound on any amount read from outside: at most ``MAX_FEN`` either way, so an
    amount and the sums of many fit the BIGINT fen columns. Raises AmountError."""
    if not -MAX_FEN <= fen <= MAX_FEN:
        shown = repr(written)[:40] if written is not None else fen_to_str(fen)
        raise AmountError(
            f"amount {shown} is larger than the ledger accepts (at most {fen_to_str(MAX_FEN)})"
        )
    return fen


def fen_to_str(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}{fen // 100}.{fen % 100:02d}"


def format_yuan(fen: int) -> str:
    """An amount for people: yuan with thousands separators, e.g. ``1,234,567.89``."""
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}{fen // 100:,}.{fen % 100:02d}"


def fen_to_money(fen: int) -> Money:
    return Money(Decimal(fen) / 100, CNY)


def money_to_fen(money: Money) -> int:
    if money.currency != CNY:
        raise AmountError(f"currency {money.currency} is not CNY")
    cents = money.amount * 100
    if cents != cents.to_integral_value():
        raise AmountError(f"{money} has more than 2 decimal places")
    return int(cents)


def split_fen(total: int, weights: list[int]) -> list[int]:
    """Split ``total`` fen by ``weights`` without losing or creating a fen (largest remainder)."""
    if not weights or any(w < 0 for w in weights) or sum(weights) == 0:
        raise AmountError("weights must be non-negative and not all zero")
    wsum = sum(weights)
    shares = [total * w // wsum for w in weights]
    remainders = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % wsum), i))
    for i in remainders[: total - sum(shares)]:
        shares[i] += 1
    return shares


def _validate_amount(value: Any) -> int:
    return parse_amount_fen(value)


AmountStr = Annotated[
    int,
    BeforeValidator(_validate_amount),
    PlainSerializer(fen_to_str, return_type=str),
    WithJsonSchema({"type": "string", "pattern": _AMOUNT_RE.pattern, "examples": ["1000000.00"]}),
]
"""An API amount: a decimal string in, fen inside, a decimal string out."""
