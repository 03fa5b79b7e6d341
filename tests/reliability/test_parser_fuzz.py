"""Every parser, fed mutated and random files: it answers or refuses in its own terms (issues
for the roster and registers, FileRejected for bank files), never another exception, and in
bounded memory."""

from __future__ import annotations

import os
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.registers.files import (
    parse_death_register,
    parse_payroll,
    parse_staff_relatives,
    parse_standards,
)
from ledger.roster.files import parse_roster
from ledger.roster.synthetic import write_roster_csv, write_roster_xlsx
from reconciliation.parsers import FileRejected, parse_return_file
from reconciliation.simulate import SimLine, write_csv_return, write_pain002
from tests.reconciliation.conftest import SAMPLES
from tests.roster.helpers import rows

MAX_TRACED = 64 * 1024 * 1024
FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)

_ROSTER = rows("440103", 8)
_LINES = [
    SimLine(i, f"B7{i:010d}", f"62220212345678{i:05d}", "张三", 100 * i, "paid")
    for i in range(1, 6)
] + [SimLine(6, "B70000000006", "6222021234567800006", "李四", 600, "failed", "账号不存在", "AC01")]
SEEDS: dict[str, list[bytes]] = {
    "table": [
        write_roster_csv(_ROSTER),
        write_roster_csv(_ROSTER, encoding="gbk"),
        write_roster_xlsx(_ROSTER),
        "行政区划代码,救助类别,生效年月,月保障标准\r\n440103,城市低保,202401,1,000.00\r\n".encode(),
        "公民身份号码,姓名,死亡日期\r\n11010519491231002X,张三,2024-01-02\r\n".encode(),
    ],
    "bank": [
        write_csv_return(_LINES),
        write_csv_return(_LINES, encoding="utf-8", bom=True, trailer=False),
        write_pain002("MSG-1", _LINES),
        *(p.read_bytes() for p in sorted(Path(SAMPLES).glob("camt.05*/*.xml"))[:4]),
    ],
}
TABLE_PARSERS: list[Callable[[bytes], Any]] = [
    lambda d: parse_roster(d, filename="f"),
    parse_standards,
    parse_death_register,
    parse_payroll,
    parse_staff_relatives,
]
HOSTILE_TEXT = st.sampled_from(
    ["", ",", '"', "\r\n", "\n", "\r", "\x00", "合计", "=1+1", "999999999999999999999.00",
     "1,000.00", "-1", "公民身份号码", "金额", "备注", "处理结果", "<", "]]>", "&amp;", "\ufeff"]
)  # fmt: skip


@st.composite
def mutated(draw: st.DrawFn, kind: str) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS[kind])))
    for _ in range(draw(st.integers(1, 8))):
        op = draw(st.sampled_from(["flip", "cut", "insert", "dup"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif op == "cut":
            del data[at : at + draw(st.integers(1, 64))]
        elif op == "insert":
            data[at:at] = draw(HOSTILE_TEXT).encode(draw(st.sampled_from(["utf-8", "gb18030"])))
        else:
            data[at:at] = data[at : at + draw(st.integers(1, 256))]
    return bytes(data)


def _bounded(call: Callable[[], Any]) -> None:
    tracemalloc.start()
    try:
        call()
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert peak < MAX_TRACED, f"{peak / 2**20:.0f} MB"


@pytest.mark.parametrize("parser", TABLE_PARSERS, ids=lambda p: getattr(p, "__name__", "roster"))
@FUZZ
@given(data=st.one_of(mutated("table"), st.binary(max_size=2048)))
def test_table_parsers_only_ever_report_issues(parser: Callable[[bytes], Any], data: bytes) -> None:
    def parse() -> None:
        result = parser(data)
        for row in result.rows:  # every accepted amount fits the BIGINT fen columns
            for name in ("monthly_amount_fen", "monthly_standard_fen"):
                assert abs(getattr(row, name, 0)) <= 10**15

    _bounded(parse)


@FUZZ
@given(data=st.one_of(mutated("bank"), st.binary(max_size=2048)))
def test_bank_file_parsers_only_ever_reject(data: bytes) -> None:
    def parse() -> None:
        try:
            parsed = parse_return_file(data)
        except FileRejected:
            return
        for line in parsed.lines():
            assert line.amount_fen is None or 0 <= line.amount_fen <= 10**15

    _bounded(parse)
