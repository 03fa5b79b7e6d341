"""Which header texts a bank uses for our CSV return-file fields."""

from __future__ import annotations

import tomllib
import unicodedata
from dataclasses import dataclass, fields, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

BANKS_PATH = Path(__file__).resolve().parents[1] / "config" / "banks.toml"

# Our field -> the name used in messages (the canonical Chinese column name).
FIELD_LABELS = {
    "seq": "序号",
    "account": "收款账号",
    "name": "收款户名",
    "amount": "金额",
    "reference": "备注",
    "result": "处理结果",
    "reason": "失败原因",
    "batch": "批次号",
}


def header_key(text: str) -> str:
    """How header cells are compared: NFKC, no spaces, no decorations, casefolded."""
    s = "".join(unicodedata.normalize("NFKC", text).split()).casefold()
    return s.strip("*:")


@dataclass(frozen=True)
class ColumnMap:
    """Header alternatives for each of our fields; the first alternative is what we write."""

    seq: tuple[str, ...] = ("序号",)
    account: tuple[str, ...] = ("收款账号",)
    name: tuple[str, ...] = ("收款户名",)
    amount: tuple[str, ...] = ("金额",)
    reference: tuple[str, ...] = ("备注",)
    result: tuple[str, ...] = ("处理结果",)
    reason: tuple[str, ...] = ("失败原因",)
    batch: tuple[str, ...] = ("批次号",)
    delimiter: str | None = None  # None: detect from the header row

    def alternatives(self, field_name: str) -> tuple[str, ...]:
        value = getattr(self, field_name)
        assert isinstance(value, tuple)
        return value

    def locate(self, header: list[str]) -> dict[str, int]:
        """Column index of each of our fields present in ``header``."""
        keys = [header_key(c) for c in header]
        found: dict[str, int] = {}
        used: set[int] = set()
        for f in FIELD_LABELS:
            for alt in self.alternatives(f):
                k = header_key(alt)
                idx = next((i for i, key in enumerate(keys) if key == k and i not in used), None)
                if idx is not None:
                    found[f] = idx
                    used.add(idx)
                    break
        return found

    @staticmethod
    def duplicates(header: list[str], found: dict[str, int]) -> list[tuple[int, int]]:
        """(column read, a later column headed the same) for each field ``found`` in ``header``:
        which of two identical headers holds the bank's value cannot be told."""
        keys = [header_key(c) for c in header]
        pairs = []
        for idx in found.values():
            later = next((j for j in range(idx + 1, len(keys)) if keys[j] == keys[idx]), None)
            if later is not None:
                pairs.append((idx, later))
        return sorted(pairs)


def _from_table(base: ColumnMap, table: dict[str, Any]) -> ColumnMap:
    known = {f.name for f in fields(ColumnMap)}
    changes: dict[str, Any] = {}
    for key, value in table.items():
        if key not in known:
            raise ValueError(f"{BANKS_PATH}: unknown column field {key!r}")
        if key == "delimiter":
            changes[key] = str(value)
        else:
            if not value or not all(isinstance(v, str) for v in value):
                raise ValueError(f"{BANKS_PATH}: {key} must be a non-empty list of strings")
            changes[key] = tuple(value)
    return replace(base, **changes)


@lru_cache(maxsize=1)
def _config() -> dict[str, Any]:
    with BANKS_PATH.open("rb") as fh:
        return tomllib.load(fh)


def load_column_map(bank_code: str | None = None) -> ColumnMap:
    """The column map for ``bank_code`` from banks.toml, falling back to [default]."""
    cfg = _config()
    base = _from_table(ColumnMap(), cfg.get("default", {}))
    if bank_code is None:
        return base
    bank = cfg.get("banks", {}).get(str(bank_code))
    return _from_table(base, bank) if bank else base


def default_column_map() -> ColumnMap:
    return load_column_map(None)
