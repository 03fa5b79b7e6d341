"""What makes a CSV we write safe to open in a spreadsheet (CSV formula injection)."""

from __future__ import annotations

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: str) -> str:
    """A text cell a spreadsheet would run as a formula, prefixed with a quote so it shows as
    text. For text we did not write (names, messages); our own amounts and numbers are written
    as they are."""
    return "'" + cell if cell.startswith(_FORMULA_START) else cell
