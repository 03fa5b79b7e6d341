"""Hostile files are refused while they are read: quickly, in bounded memory, naming the limit."""

from __future__ import annotations

import io
import resource
import time
import tracemalloc
import zipfile
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook
from sqlalchemy import text
from sqlalchemy.orm import Session

from ledger.config import get_settings
from ledger.roster.files import ROSTER_HEADERS, parse_roster
from ledger.roster.synthetic import write_roster_csv, write_roster_xlsx
from reconciliation.parsers import FileRejected, parse_return_file
from tests.factories import make_user
from tests.roster.helpers import BANK, county, ensure_bank, rows, upload

MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
MAX_SECONDS = 10
MAX_GROWTH = 200 * 1024 * 1024


def bounded(call: Callable[[], Any]) -> Any:
    """Run ``call``; assert it took under 10 s, and grew neither traced Python memory nor the
    process's peak RSS by 200 MB."""
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    tracemalloc.start()
    started = time.monotonic()
    try:
        result = call()
    finally:
        elapsed = time.monotonic() - started
        _, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    peak_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    assert elapsed < MAX_SECONDS, f"took {elapsed:.1f} s"
    assert traced_peak < MAX_GROWTH, f"traced peak {traced_peak / 2**20:.0f} MB"
    assert peak_after - peak_before < MAX_GROWTH, "peak RSS grew by more than 200 MB"
    return result


def _replace_member(data: bytes, name: str, edit: Callable[[bytes], bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            body = src.read(info)
            dst.writestr(info, edit(body) if info.filename == name else body)
    return out.getvalue()


@pytest.fixture(scope="module")
def roster_xlsx() -> bytes:
    return write_roster_xlsx(rows("440103", 11000))


@pytest.fixture(scope="module")
def xfd_xlsx(roster_xlsx: bytes) -> bytes:
    """About 1 MB of roster whose sheet claims A1:XFD1048576 (the whole grid)."""
    sheet = "xl/worksheets/sheet1.xml"

    def claim(body: bytes) -> bytes:
        assert b"<dimension" not in body
        start = body.index(b"<sheetData")
        return body[:start] + b'<dimension ref="A1:XFD1048576"/>' + body[start:]

    return _replace_member(roster_xlsx, sheet, claim)


@pytest.fixture(scope="module")
def inflating_xlsx() -> bytes:
    """A few MB of workbook whose sheet unzips to 1.1 GB (deflated blanks)."""
    workbook = Workbook()
    workbook.active.append(list(ROSTER_HEADERS.values()))
    buf = io.BytesIO()
    workbook.save(buf)
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(buf.getvalue())) as src,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as dst,
    ):
        for info in src.infolist():
            if info.filename != "xl/worksheets/sheet1.xml":
                dst.writestr(info.filename, src.read(info))
        with dst.open("xl/worksheets/sheet1.xml", "w") as sheet:
            blanks = b" " * (1 << 24)
            for _ in range(70):
                sheet.write(blanks)
    return out.getvalue()


def _limit_issue(result: Any, limit: str) -> str:
    errors = [i for i in result.issues if i.severity == "error"]
    assert len(errors) == 1, errors
    assert errors[0].column == limit
    assert limit in errors[0].reason
    return str(errors[0].reason)


def test_a_sheet_claiming_columns_a_to_xfd_is_refused_quickly(xfd_xlsx: bytes) -> None:
    assert 500_000 < len(xfd_xlsx) < 2_000_000
    result = bounded(lambda: parse_roster(xfd_xlsx, filename="x.xlsx"))
    assert "16384" not in _limit_issue(result, "LEDGER_MAX_TABLE_COLUMNS")


def test_a_cell_far_right_is_refused_without_padding_every_row() -> None:
    """No dimension at all, but one row holds a cell in column XFD."""

    def far_cell(body: bytes) -> bytes:
        end = body.index(b"</row>")
        return body[:end] + b'<c r="XFD1" t="inlineStr"><is><t>x</t></is></c>' + body[end:]

    roster_xlsx = write_roster_xlsx(rows("440103", 50))
    data = _replace_member(roster_xlsx, "xl/worksheets/sheet1.xml", far_cell)
    result = bounded(lambda: parse_roster(data, filename="x.xlsx"))
    _limit_issue(result, "LEDGER_MAX_TABLE_COLUMNS")
    assert result.issues[0].line == 1


def test_an_xlsx_that_unzips_to_a_gigabyte_is_refused_before_inflating(
    inflating_xlsx: bytes,
) -> None:
    assert len(inflating_xlsx) < 10 * 1024 * 1024
    result = bounded(lambda: parse_roster(inflating_xlsx, filename="x.xlsx"))
    _limit_issue(result, "LEDGER_XLSX_MAX_UNZIPPED_BYTES")


@pytest.fixture
def small_limits(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {
        "LEDGER_MAX_TABLE_ROWS": "50",
        "LEDGER_MAX_TABLE_CELLS": "400",
        "LEDGER_MAX_LINE_CHARS": "300",
        "LEDGER_MAX_FILE_LINES": "20",
        "LEDGER_XLSX_MAX_SHARED_STRINGS": "100",
        "LEDGER_XLSX_MAX_MEMBERS": "20",
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_table_limits_name_themselves(small_limits: None) -> None:
    roster = rows("440103", 40)
    _limit_issue(parse_roster(b"x\r\n" * 60, filename="r.csv"), "LEDGER_MAX_TABLE_ROWS")
    cells = parse_roster(write_roster_csv(roster), filename="r.csv")
    _limit_issue(cells, "LEDGER_MAX_TABLE_CELLS")
    wide = b"," * 299
    _limit_issue(parse_roster(wide, filename="r.csv"), "LEDGER_MAX_TABLE_COLUMNS")
    long_line = ("x" * 400).encode()
    _limit_issue(parse_roster(long_line, filename="r.csv"), "LEDGER_MAX_LINE_CHARS")
    strings = "".join(f"<si><t>s{i}</t></si>" for i in range(150))
    table = f'<sst xmlns="{MAIN_NS}" count="150" uniqueCount="150">{strings}</sst>'.encode()
    xlsx = io.BytesIO()
    with zipfile.ZipFile(xlsx, "w") as archive:
        with zipfile.ZipFile(io.BytesIO(write_roster_xlsx(roster[:2]))) as src:
            for info in src.infolist():
                archive.writestr(info, src.read(info))
        archive.writestr("xl/sharedStrings.xml", table)
    shared = parse_roster(xlsx.getvalue(), filename="r.xlsx")
    _limit_issue(shared, "LEDGER_XLSX_MAX_SHARED_STRINGS")


def test_a_zip_of_many_members_is_refused_from_its_directory(small_limits: None) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for i in range(50):
            archive.writestr(f"m{i}", b"")
    _limit_issue(parse_roster(out.getvalue(), filename="r.xlsx"), "LEDGER_XLSX_MAX_MEMBERS")


def test_return_file_limits_name_themselves(small_limits: None) -> None:
    header = "序号,收款账号,收款户名,金额,备注,处理结果,失败原因\r\n"
    many = header + "".join(f"{i},6222000000000001,张三,1.00,R{i},成功,\r\n" for i in range(30))
    with pytest.raises(FileRejected) as rejected:
        parse_return_file(many.encode())
    assert rejected.value.field == "LEDGER_MAX_FILE_LINES"
    assert rejected.value.line == 21
    wide = header + "," * 280 + "\r\n"
    with pytest.raises(FileRejected) as rejected:
        parse_return_file(wide.encode())
    assert rejected.value.field == "LEDGER_MAX_TABLE_COLUMNS"
    long_line = header + "1,6222000000000001," + "张" * 400 + ",1.00,R1,成功,\r\n"
    with pytest.raises(FileRejected) as rejected:
        parse_return_file(long_line.encode())
    assert (rejected.value.field, rejected.value.line) == ("LEDGER_MAX_LINE_CHARS", 2)


def test_an_upload_over_a_limit_is_a_422_naming_it(
    session: Session, client: TestClient, xfd_xlsx: bytes
) -> None:
    c = county(session, fund_fen=0)
    r = bounded(lambda: upload(client, c, xfd_xlsx, name="roster.xlsx"))
    assert r.status_code == 422, r.text
    details = r.json()["error"]["details"]
    assert [d["field"] for d in details] == ["LEDGER_MAX_TABLE_COLUMNS"]
    assert session.execute(text("SELECT count(*) FROM register_import")).scalar_one() == 0


# ---- duplicate headers and unbounded amounts ------------------------------------------------


def test_a_second_id_number_column_is_refused_naming_both() -> None:
    data = write_roster_csv(rows("440103", 3)).decode("utf-8-sig")
    header, rest = data.split("\r\n", 1)
    doubled = header + ",公民身份号码\r\n" + rest.replace("\r\n", ",\r\n")
    result = parse_roster(doubled.encode(), filename="r.csv")
    assert result.rows == []
    (issue,) = result.issues
    assert issue.line == 1 and issue.column == "公民身份号码"
    assert "公民身份号码" in issue.reason and "column 3" in issue.reason
    assert f"column {len(header.split(',')) + 1}" in issue.reason


def test_a_return_file_with_two_amount_columns_is_refused_naming_both() -> None:
    data = "序号,收款账号,收款户名,金额,备注,处理结果,金额\r\n1,6222000000000001,张三,1.00,R1,成功,2.00\r\n"
    with pytest.raises(FileRejected) as rejected:
        parse_return_file(data.encode())
    assert (rejected.value.line, rejected.value.field) == (1, "金额")
    assert "column 4" in rejected.value.reason and "column 7" in rejected.value.reason


HUGE = "999999999999999999999.00"


def test_an_unbounded_amount_in_a_return_file_is_a_422_naming_line_and_field(
    session: Session, client: TestClient
) -> None:
    ensure_bank(session)
    bank = make_user(session, "bank", "440000", bank=BANK)
    body = (
        "序号,收款账号,收款户名,金额,备注,处理结果,失败原因\r\n"
        f"1,6222000000000001,张三,1.00,R1,成功,\r\n2,6222000000000002,李四,{HUGE},R2,成功,\r\n"
    )
    r = client.post(
        "/bank-files",
        content=body.encode(),
        headers={**bank.write(), "Content-Type": "text/csv"},
    )
    assert r.status_code == 422, r.text
    (detail,) = r.json()["error"]["details"]
    assert (detail["line"], detail["field"]) == (3, "金额")
    assert "larger than the ledger accepts" in detail["reason"]
    assert session.execute(text("SELECT count(*) FROM bank_file")).scalar_one() == 0


def test_lines_adding_up_beyond_the_bound_are_refused() -> None:
    line = "{i},6222000000000001,张三,9000000000000.00,R{i},成功,\r\n"
    body = "序号,收款账号,收款户名,金额,备注,处理结果,失败原因\r\n" + "".join(
        line.format(i=i) for i in range(3)
    )
    with pytest.raises(FileRejected) as rejected:
        parse_return_file(body.encode())
    assert (rejected.value.line, rejected.value.field) == (3, "金额")


@pytest.mark.parametrize("amount", [HUGE, "1" * 5000, "10000000000000.01"])
def test_unbounded_amounts_are_refused_by_every_reader(amount: str) -> None:
    from ledger.money import AmountError, parse_amount_fen
    from ledger.registers.files import parse_standards
    from reconciliation.parsers.normalise import parse_amount_fen as parse_bank_amount

    with pytest.raises(AmountError):
        parse_amount_fen(amount)
    with pytest.raises(ValueError, match="larger than the ledger accepts"):
        parse_bank_amount(amount)
    standards = f"行政区划代码,救助类别,生效年月,月保障标准\r\n440103,城市低保,202401,{amount}\r\n"
    result = parse_standards(standards.encode())
    assert result.rows == [] and result.issues[0].column == "月保障标准"
