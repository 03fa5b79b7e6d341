"""Canonical failure taxonomy: bank codes and phrases to one reason.

The tables live in ``reconciliation/config/reasons.toml``; this module only applies them.
"""

from __future__ import annotations

import tomllib
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

Reason = Literal[
    "account_invalid",
    "account_closed",
    "account_blocked",
    "name_mismatch",
    "id_mismatch",
    "beneficiary_deceased",
    "limit",
    "routing",
    "duplicate",
    "format",
    "unspecified",
]
REASONS: tuple[str, ...] = (
    "account_invalid",
    "account_closed",
    "account_blocked",
    "name_mismatch",
    "id_mismatch",
    "beneficiary_deceased",
    "limit",
    "routing",
    "duplicate",
    "format",
    "unspecified",
)
UNSPECIFIED = "unspecified"
CONFIG_PATH = Path(__file__).resolve().parent / "config" / "reasons.toml"


@dataclass(frozen=True)
class ReasonTables:
    iso: dict[str, str]
    phrases: tuple[tuple[str, str], ...]  # (normalised phrase, reason), in priority order
    paid_results: frozenset[str]
    failed_results: frozenset[str]


def _norm(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).split()).casefold()


def load_tables(path: Path = CONFIG_PATH) -> ReasonTables:
    with path.open("rb") as fh:
        cfg = tomllib.load(fh)
    iso: dict[str, str] = {}
    for reason, codes in cfg.get("iso", {}).items():
        if reason not in REASONS:
            raise ValueError(f"{path}: unknown reason {reason!r} in [iso]")
        for code in codes:
            iso[code.strip().upper()] = reason
    phrases: list[tuple[str, str]] = []
    for rule in cfg.get("phrase", []):
        reason = rule["reason"]
        if reason not in REASONS:
            raise ValueError(f"{path}: unknown reason {reason!r} in [[phrase]]")
        phrases.extend((_norm(p), reason) for p in rule["match"])
    outcomes = cfg.get("outcomes", {})
    return ReasonTables(
        iso=iso,
        phrases=tuple(phrases),
        paid_results=frozenset(_norm(s) for s in outcomes.get("paid", [])),
        failed_results=frozenset(_norm(s) for s in outcomes.get("failed", [])),
    )


@lru_cache(maxsize=1)
def tables() -> ReasonTables:
    return load_tables()


def classify(raw_code: str | None, raw_text: str | None) -> str:
    """Map a bank's code and/or text to a canonical reason; unknown -> 'unspecified'.

    A known ISO code wins (except NARR, which defers to the text); then the phrase table;
    a text that is itself a known ISO code counts as the code.
    """
    t = tables()
    code = unicodedata.normalize("NFKC", raw_code).strip().upper() if raw_code else ""
    if code and code != "NARR" and code in t.iso:
        return t.iso[code]
    if raw_text:
        text = _norm(raw_text)
        for phrase, reason in t.phrases:
            if phrase and phrase in text:
                return reason
        as_code = text.upper()
        if as_code != "NARR" and as_code in t.iso:
            return t.iso[as_code]
    return UNSPECIFIED


def result_outcome(text: str | None) -> Literal["paid", "failed", "unknown"]:
    """A CSV 处理结果 value to an outcome. Empty or unlisted values are 'unknown'."""
    if not text:
        return "unknown"
    value = _norm(text)
    t = tables()
    if value in t.paid_results:
        return "paid"
    if value in t.failed_results:
        return "failed"
    return "unknown"
