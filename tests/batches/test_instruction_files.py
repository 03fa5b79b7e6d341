"""Bank instruction files: CSV totals, pain.001 against the XSD, bounded memory."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from lxml import etree

from ledger.batches.instruction_files import (
    PAIN001_NS,
    InstructionHeader,
    InstructionLine,
    validate_pain001,
    write_instruction_csv,
    write_pain001,
)
from ledger.roster.synthetic import generate_roster

NS = {"p": PAIN001_NS}


def _lines(count: int) -> list[InstructionLine]:
    rows = generate_roster(
        "440103",
        households=count,
        seed=11,
        funds=["城市低保"],
        bank_codes=["102", "105"],
        start_period="202401",
    )
    return [
        InstructionLine(
            seq=i,
            reference=f"B7{i:010d}",
            account_no=r.account_no,
            account_name=r.account_name,
            amount_fen=r.monthly_amount_fen + i % 100,  # some odd 分
            payee_name=r.name,
        )
        for i, r in enumerate(rows, start=1)
    ]


def _header(lines: list[InstructionLine], **overrides: object) -> InstructionHeader:
    values: dict[str, object] = {
        "batch_id": 7,
        "message_id": "LW-2081901-202401-7",
        "county_code": "440103",
        "county_name": "荔湾区",
        "fund_code": "2081901",
        "fund_name": "城市最低生活保障",
        "period": "202401",
        "payer_account": "3602000129200123456",
        "payer_name": "广州市荔湾区民政局",
        "bank_code": "102581000013",
        "bank_name": "中国工商银行广州分行",
        "created_at": dt.datetime(2024, 1, 5, 9, 30, 12, 123456),
        "line_count": len(lines),
        "total_fen": sum(line.amount_fen for line in lines),
    }
    values.update(overrides)
    return InstructionHeader(**values)  # type: ignore[arg-type]


def test_pain001_validates_with_cjk_names() -> None:
    lines = _lines(300)
    lines[0] = InstructionLine(1, "B70000000001", "6222021234567890128", "欧阳娜娜", 1, "欧阳娜娜")
    header = _header(lines)
    out = io.BytesIO()
    write_pain001(header, lines, out)
    data = out.getvalue()
    validate_pain001(data)

    doc = etree.fromstring(data)
    assert doc.findtext("p:CstmrCdtTrfInitn/p:GrpHdr/p:NbOfTxs", namespaces=NS) == "300"
    ctrl_sum = doc.findtext("p:CstmrCdtTrfInitn/p:GrpHdr/p:CtrlSum", namespaces=NS)
    transfers = doc.findall(".//p:CdtTrfTxInf", namespaces=NS)
    amounts = [t.findtext("p:Amt/p:InstdAmt", namespaces=NS) for t in transfers]
    assert len(transfers) == 300
    assert all(a is not None and len(a.split(".")[1]) == 2 for a in amounts)
    assert ctrl_sum == f"{header.total_fen // 100}.{header.total_fen % 100:02d}"
    first = transfers[0]
    assert first.findtext("p:PmtId/p:EndToEndId", namespaces=NS) == "B70000000001"
    assert first.findtext("p:Cdtr/p:Nm", namespaces=NS) == "欧阳娜娜"
    assert first.find("p:Amt/p:InstdAmt", namespaces=NS).get("Ccy") == "CNY"  # type: ignore[union-attr]
    assert first.findtext("p:RmtInf/p:Ustrd", namespaces=NS) == "城市最低生活保障 202401"
    assert doc.findtext(".//p:DbtrAgt/p:FinInstnId/p:Othr/p:Id", namespaces=NS) == "102581000013"


def test_validate_pain001_reports_errors_and_accepts_paths(tmp_path: os.PathLike[str]) -> None:
    lines = _lines(3)
    out = io.BytesIO()
    write_pain001(_header(lines), lines, out)
    path = os.path.join(tmp_path, "batch.xml")
    with open(path, "wb") as f:
        f.write(out.getvalue())
    validate_pain001(path)
    with pytest.raises(ValueError, match="Ccy"):
        validate_pain001(out.getvalue().replace(b'Ccy="CNY"', b'Ccy="cny"'))
    with pytest.raises(ValueError):
        validate_pain001(b"<not xml")


def test_pain001_refuses_values_the_schema_cannot_hold() -> None:
    lines = _lines(2)
    with pytest.raises(ValueError, match="message id"):
        write_pain001(_header(lines, message_id="X" * 36), lines, io.BytesIO())
    long_reference = [InstructionLine(1, "R" * 13, "6222021234567890128", "张三", 100, "张三")]
    with pytest.raises(ValueError, match="reference"):
        write_pain001(_header(long_reference), long_reference, io.BytesIO())


def test_csv_rows_and_trailer_match_the_lines() -> None:
    lines = _lines(250)
    header = _header(lines)
    for encoding in ("utf-8", "gbk"):
        out = io.BytesIO()
        write_instruction_csv(header, lines, out, encoding=encoding)  # type: ignore[arg-type]
        rows = list(csv.reader(io.StringIO(out.getvalue().decode(encoding), newline="")))
        assert rows[0] == ["序号", "收款账号", "收款户名", "金额", "备注"]
        body, trailer = rows[1:-1], rows[-1]
        assert len(body) == 250
        assert body[0][4] == "B70000000001" and body[0][1] == lines[0].account_no
        assert all(len(r[3].split(".")[1]) == 2 for r in body)
        total = sum(int(r[3].replace(".", "")) for r in body)
        assert total == header.total_fen
        assert trailer == ["合计", "250", "", f"{total // 100}.{total % 100:02d}", ""]


@pytest.mark.parametrize("writer", [write_instruction_csv, write_pain001])
def test_header_total_or_count_mismatch_raises(writer: object) -> None:
    lines = _lines(5)
    for bad in (
        _header(lines, total_fen=_header(lines).total_fen + 1),
        _header(lines, line_count=4),
    ):
        with pytest.raises(ValueError, match="differ from the batch header"):
            writer(bad, lines, io.BytesIO())  # type: ignore[operator]


def test_gbk_csv_refuses_a_name_gbk_cannot_hold() -> None:
    lines = [InstructionLine(1, "R1", "6222021234567890128", "王𠮷", 100, "王𠮷")]
    with pytest.raises(ValueError, match="gbk"):
        write_instruction_csv(_header(lines), lines, io.BytesIO(), encoding="gbk")


def test_writers_refuse_malformed_lines() -> None:
    zero = [InstructionLine(1, "R1", "6222021234567890128", "张三", 0, "张三")]
    with pytest.raises(ValueError, match="positive"):
        write_instruction_csv(_header(zero), zero, io.BytesIO())


def _many(count: int) -> Iterator[InstructionLine]:
    for i in range(1, count + 1):
        yield InstructionLine(
            i, f"M{i:011d}", "6217001049746507524", "司马光明", 123456, "司马光明"
        )


def _peak_bytes(writer: Callable[..., None], count: int, **kwargs: Any) -> int:
    header = _header([], line_count=count, total_fen=123456 * count)
    with open(os.devnull, "wb") as sink:
        tracemalloc.start()
        try:
            writer(header, _many(count), sink, **kwargs)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    return peak


@pytest.mark.parametrize(
    ("writer", "kwargs"), [(write_pain001, {}), (write_instruction_csv, {"encoding": "gbk"})]
)
def test_writer_memory_does_not_grow_with_the_lines(
    writer: Callable[..., None], kwargs: dict[str, Any]
) -> None:
    """Streaming: eight times the lines may not need more than a little more memory."""
    small = _peak_bytes(writer, 2_000, **kwargs)
    large = _peak_bytes(writer, 16_000, **kwargs)
    assert large < small * 1.5 + 256 * 1024, f"peak {small / 1e6:.2f} MB → {large / 1e6:.2f} MB"
    assert large < 20 * 1024 * 1024
