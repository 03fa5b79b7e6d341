"""Normalisation of amounts, accounts and names as banks write them."""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation

from ledger.money import check_fen_range

_AMOUNT_RE = re.compile(r"^(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?$")
# How nearly every bank writes an amount: read with integers; anything else takes the full path.
_PLAIN_AMOUNT_RE = re.compile(r"([0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.([0-9]{1,2}))?")
NAME_DROP = str.maketrans("", "", "·・•‧･")
_CURRENCY_MARKS = ("¥", "￥", "RMB", "CNY")
_MAX_YUAN_CHARS = 32  # "10,000,000,000,000" and far beyond; longer is refused before int()


def nfkc(text: str) -> str:
    """Full-width to half-width (digits, letters, space, punctuation), stripped."""
    if text.isascii():  # ASCII is its own NFKC form
        return text.strip()
    return unicodedata.normalize("NFKC", text).strip()


def parse_amount_fen(text: str) -> int:
    """'1,234.50' -> 123450; '474.4' -> 47440; '5.0400' -> 504.

    Raises ValueError for anything else, including a sign, an amount with a non-zero third
    decimal, misplaced thousands separators, or more than the ledger holds.
    """
    plain = _PLAIN_AMOUNT_RE.fullmatch(text)
    if plain is not None:
        yuan, cents = plain.groups()
        if len(yuan) > _MAX_YUAN_CHARS:  # no int() of a million digits
            raise ValueError(f"amount {text[:40]!r}… is larger than the ledger accepts")
        whole = int(yuan.replace(",", "")) * 100 + (int(cents.ljust(2, "0")) if cents else 0)
        return check_fen_range(whole, text)
    s = nfkc(text).replace(" ", "")
    for mark in _CURRENCY_MARKS:
        if s.upper().startswith(mark):
            s = s[len(mark) :]
    s = s.removesuffix("元")
    if not _AMOUNT_RE.match(s):
        raise ValueError(f"not an amount: {text!r}")
    try:
        value = Decimal(s.replace(",", ""))
    except InvalidOperation as exc:  # pragma: no cover - the regex already refuses these
        raise ValueError(f"not an amount: {text!r}") from exc
    fen = value * 100
    if fen != fen.to_integral_value():
        raise ValueError(f"more than 2 decimals: {text!r}")
    return check_fen_range(int(fen), text)


def format_fen(fen: int, *, thousands: bool = True) -> str:
    """123450 -> '1,234.50'."""
    yuan, cents = divmod(fen, 100)
    return f"{yuan:,}.{cents:02d}" if thousands else f"{yuan}.{cents:02d}"


def normalise_account(text: str | None) -> str | None:
    if text is None:
        return None
    s = "".join(nfkc(text).split())
    return s or None


def normalise_name(text: str | None) -> str | None:
    if text is None:
        return None
    s = "".join(nfkc(text).split()).translate(NAME_DROP)
    return s or None


def clean(text: str | None) -> str | None:
    """NFKC and strip; empty becomes None."""
    if text is None:
        return None
    s = nfkc(text)
    return s or None
