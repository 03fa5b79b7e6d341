"""The division tree and the fund catalog, without a database.

Divisions come from python-stdnum's dated GB/T 2260 table (``stdnum/cn/loc.dat``): an entry is
current when its newest name has no end year. 市辖区/市区 placeholders are not paying units.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import stdnum

CENTRAL = "000000"
PROVINCE = "440000"
_PLACEHOLDERS = {"市辖区", "市区", "县"}


@dataclass(frozen=True, slots=True)
class Division:
    code: str
    name: str
    parent: str | None
    level: int  # 0 central, 1 province, 2 prefecture city, 3 county-level unit
    pays_directly: bool = False


@dataclass(frozen=True, slots=True)
class FundSpec:
    code: str
    name: str
    budget_function_code: str


FUNDS: tuple[FundSpec, ...] = (
    FundSpec("urban_minimum_living", "城市最低生活保障", "2081901"),
    FundSpec("rural_minimum_living", "农村最低生活保障", "2081902"),
    FundSpec("urban_destitute_support", "城市特困人员救助供养", "2082101"),
    FundSpec("rural_destitute_support", "农村特困人员救助供养", "2082102"),
    FundSpec("temporary_assistance", "临时救助", "2082001"),
    FundSpec("vagrant_assistance", "流浪乞讨人员救助", "2082002"),
    FundSpec("child_welfare", "困境儿童和孤儿基本生活保障", "2081001"),
    FundSpec("disability_living_allowance", "困难残疾人生活补贴", "2081107"),
    FundSpec("disability_care_allowance", "重度残疾人护理补贴", "2081108"),
    FundSpec("medical_assistance", "城乡医疗救助", "2101301"),
)


def level_of(code: str) -> int:
    if code == CENTRAL:
        return 0
    if code.endswith("0000"):
        return 1
    if code.endswith("00"):
        return 2
    return 3


def in_subtree(root: str, code: str) -> bool:
    """Whether ``code`` lies in the division subtree rooted at ``root`` (codes nest by prefix)."""
    level = level_of(root)
    if level == 0:
        return True
    if level == 1:
        return code[:2] == root[:2]
    if level == 2:
        return code[:4] == root[:4]
    return code == root


def parent_of(code: str) -> str | None:
    level = level_of(code)
    if level == 0:
        return None
    if level == 1:
        return CENTRAL
    if level == 2:
        return code[:2] + "0000"
    return code[:4] + "00"


def _current_name(spec: str) -> str | None:
    current = None
    for part in spec.split(","):
        m = re.match(r"^(?:\[(\d*)-(\d*)\])?(.*)$", part)
        assert m is not None
        _start, end, name = m.groups()
        if not end:
            current = name
    return current


@lru_cache
def guangdong_divisions() -> tuple[Division, ...]:
    """Central, the province, its 21 prefecture cities and its county-level units."""
    path = Path(stdnum.__file__).parent / "cn" / "loc.dat"
    raw: list[tuple[str, str]] = []
    province = None
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if not line.startswith(" "):
            province = line.split()[0]
            continue
        if province != PROVINCE[:2]:
            continue
        code, rest = line.strip().split(" ", 1)
        m = re.search(r'county="([^"]*)"', rest)
        name = _current_name(m.group(1)) if m else None
        if name and name not in _PLACEHOLDERS:
            raw.append((PROVINCE[:2] + code, name))
    names = dict(raw)
    cities = {c for c, _ in raw if level_of(c) == 2}
    has_counties = {c[:4] + "00" for c, _ in raw if level_of(c) == 3}
    out = [
        Division(CENTRAL, "中央", None, 0),
        Division(PROVINCE, names.get(PROVINCE, "广东省"), CENTRAL, 1),
    ]
    for code, name in sorted(raw):
        level = level_of(code)
        if level == 2:
            out.append(Division(code, name, PROVINCE, 2, pays_directly=code not in has_counties))
        elif level == 3 and parent_of(code) in cities:
            out.append(Division(code, name, parent_of(code), 3))
    return tuple(out)


def resolve_fund(value: str) -> FundSpec | None:
    """A fund by its code, budget function code or Chinese name."""
    value = value.strip()
    for f in FUNDS:
        if value in (f.code, f.budget_function_code, f.name):
            return f
    return None
