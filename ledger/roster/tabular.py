"""Reading uploaded tables (CSV in UTF-8/GBK/GB18030, or XLSX) into validated rows.

Shared by the roster (花名册) and the registers. Pure: bytes in, rows and issues out, nothing
raised for bad input. Every issue names the physical line (the header row is the line of the
header), the column as headed in the file, and the reason.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import unicodedata
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal, TypeVar

from stdnum import luhn, numdb
from stdnum.cn import ric

from ledger.filebytes import ByteSource, NotText, text_encoding
from ledger.limits import (
    LimitExceeded,
    ParseLimits,
    bounded_lines,
    check_zip_directory,
    parse_limits,
)
from ledger.money import AmountError, parse_amount_fen

Severity = Literal["error", "warning"]

# A header is looked for among the first rows, after any title rows (e.g. "XX区城市低保花名册").
_HEADER_SEARCH_ROWS = 20
_XLSX_MAGIC = b"PK\x03\x04"
_MAX_TEXT = 200


@dataclass(frozen=True)
class RowIssue:
    line: int
    column: str
    reason: str
    severity: Literal["error", "warning"]


@dataclass(frozen=True)
class Column:
    """A column a file kind understands: ``aliases[0]`` is the header our writers use."""

    key: str
    aliases: tuple[str, ...]
    required: bool = True


def _normalise_header(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    return re.sub(r"[\s*＊:：]", "", text).lower()


def _strip_unit(text: str) -> str:
    """``月发放金额(元)`` → ``月发放金额``."""
    return re.sub(r"\([^()]*\)$", "", text)


def normalise_cell(text: str) -> str:
    """NFKC (full-width digits and letters become ASCII) and surrounding space removed."""
    return unicodedata.normalize("NFKC", text).strip()


def _cell_text(value: Any) -> str:
    """Text of an XLSX cell. Numbers keep their written digits as far as the file kept them."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 2**53:
            return str(int(value))
        return format(Decimal(repr(value)), "f")
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _decode(data: bytes) -> str:
    """The text of a CSV file, by the one encoding policy of every text file we take
    (``ledger.filebytes.text_encoding``); raises ``NotText`` naming the line."""
    encoding, skip = text_encoding(ByteSource.of(data))
    return data[skip:].decode(encoding)


def _csv_records(text: str, limits: ParseLimits) -> Iterator[tuple[int, list[str]]]:
    """Each record with the physical line it starts on (quoted fields may span lines)."""
    lines = bounded_lines(
        io.StringIO(text, newline=""),
        max_chars=limits.max_line_chars,
        max_lines=limits.max_table_rows,
        lines_setting="max_table_rows",
    )
    reader = csv.reader(lines)
    start = 1
    cells = 0
    for record in reader:
        cells = _check_width(len(record), cells, start, limits)
        yield start, record
        start = reader.line_num + 1


def _check_width(width: int, cells: int, line: int, limits: ParseLimits) -> int:
    """The running cell count after a row of ``width`` cells; refuses a row or table too wide."""
    if width > limits.max_table_columns:
        raise LimitExceeded(
            "max_table_columns", limits.max_table_columns, "columns in a row", line=line
        )
    cells += width
    if cells > limits.max_table_cells:
        raise LimitExceeded("max_table_cells", limits.max_table_cells, "cells", line=line)
    return cells


def _check_xlsx_zip(data: bytes, limits: ParseLimits) -> None:
    """Sizes, members and shared strings of a workbook, before openpyxl inflates any of it.

    ``zipfile`` never inflates a member beyond its recorded size (a lie fails the CRC), so the
    recorded sizes bound what reading the workbook can allocate.
    """
    from lxml import etree

    check_zip_directory(data, limits)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = archive.infolist()
        if sum(m.file_size for m in members) > limits.xlsx_max_unzipped_bytes:
            raise LimitExceeded(
                "xlsx_max_unzipped_bytes", limits.xlsx_max_unzipped_bytes, "bytes unzipped"
            )
        for member in members:
            if not member.filename.lower().endswith("sharedstrings.xml"):
                continue
            strings = 0
            with archive.open(member) as source:
                for _event, element in etree.iterparse(
                    source, events=("end",), resolve_entities=False, no_network=True
                ):
                    if element.tag.rpartition("}")[2] == "si":
                        strings += 1
                        if strings > limits.xlsx_max_shared_strings:
                            raise LimitExceeded(
                                "xlsx_max_shared_strings",
                                limits.xlsx_max_shared_strings,
                                "shared strings",
                            )
                        element.clear(keep_tail=False)


def _xlsx_records(data: bytes, limits: ParseLimits) -> Iterator[tuple[int, list[str]]]:
    from openpyxl import load_workbook

    _check_xlsx_zip(data, limits)
    workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        if len(workbook.sheetnames) > limits.xlsx_max_sheets:
            raise LimitExceeded("xlsx_max_sheets", limits.xlsx_max_sheets, "sheets")
        sheet = workbook.worksheets[0]
        # The declared dimension is a claim: refused when beyond the limits, then dropped, so
        # openpyxl pads no row to it and the rows read are the cells the sheet really holds.
        if (sheet.max_column or 0) > limits.max_table_columns:
            raise LimitExceeded(
                "max_table_columns", limits.max_table_columns, "columns (sheet dimension)"
            )
        if (sheet.max_row or 0) > limits.max_table_rows:
            raise LimitExceeded("max_table_rows", limits.max_table_rows, "rows (sheet dimension)")
        sheet.reset_dimensions()
        cells = 0
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            if number > limits.max_table_rows:
                raise LimitExceeded("max_table_rows", limits.max_table_rows, "rows", line=number)
            cells = _check_width(len(values), cells, number, limits)
            yield number, [_cell_text(v) for v in values]
    finally:
        workbook.close()


def _records(
    data: bytes, limits: ParseLimits
) -> tuple[list[tuple[int, list[str]]], list[RowIssue]]:
    try:
        limits.check_bytes(len(data))
        if data.startswith(_XLSX_MAGIC):
            try:
                return list(_xlsx_records(data, limits)), []
            except LimitExceeded:
                raise
            except Exception as exc:  # whatever openpyxl or zipfile cannot read is not a workbook
                return [], [RowIssue(1, "", f"not a readable XLSX workbook: {exc}", "error")]
        try:
            text = _decode(data)
        except NotText as exc:
            return [], [RowIssue(exc.line, exc.field, exc.reason, "error")]
        try:
            return list(_csv_records(text, limits)), []
        except csv.Error as exc:
            return [], [RowIssue(1, "", f"not a readable CSV file: {exc}", "error")]
    except LimitExceeded as exc:
        return [], [RowIssue(exc.line or 1, exc.field, exc.reason, "error")]


@dataclass
class Record:
    line: int
    cells: dict[str, str]


@dataclass
class Table:
    """The rows under a recognised header. ``headers`` maps a column key to its text in the file."""

    header_line: int
    headers: dict[str, str]
    records: list[Record]
    issues: list[RowIssue] = field(default_factory=list)


def _match_header(
    row: Sequence[str], by_alias: dict[str, str]
) -> tuple[dict[str, int], list[tuple[int, int]]]:
    """Column index of each key in a header row, and (first, second) index of each column that
    names a key a column before it already named."""
    found: dict[str, int] = {}
    duplicates: list[tuple[int, int]] = []
    for index, cell in enumerate(row):
        name = _normalise_header(cell)
        key = by_alias.get(name) or by_alias.get(_strip_unit(name))
        if key is None:
            continue
        if key in found:
            duplicates.append((found[key], index))
        else:
            found[key] = index
    return found, duplicates


def _duplicate_issues(
    line: int, row: Sequence[str], duplicates: list[tuple[int, int]]
) -> list[RowIssue]:
    issues = []
    for first, second in duplicates:
        a, b = row[first].strip(), row[second].strip()
        reason = (
            f"duplicate column: {b!r} (column {second + 1}) names the same field as "
            f"{a!r} (column {first + 1})"
        )
        issues.append(RowIssue(line, b, reason, "error"))
    return issues


def read_table(
    data: bytes, columns: Sequence[Column], *, limits: ParseLimits | None = None
) -> Table:
    """Find the header row, map its columns, and return the non-blank rows beneath it."""
    by_alias = {_normalise_header(a): c.key for c in columns for a in c.aliases}
    records, issues = _records(data, limits or parse_limits())
    if issues:
        return Table(1, {}, [], issues)

    best: tuple[int, int, dict[str, int]] | None = None  # (position, line, column index)
    seen = 0
    for position, (line, row) in enumerate(records):
        if not any(c.strip() for c in row):
            continue
        found, _ = _match_header(row, by_alias)
        if best is None or len(found) > len(best[2]):
            best = (position, line, found)
        seen += 1
        if seen >= _HEADER_SEARCH_ROWS or all(c.key in found for c in columns if c.required):
            break
    if best is None or not best[2]:
        expected = "、".join(c.aliases[0] for c in columns if c.required)
        return Table(
            1, {}, [], [RowIssue(1, "", f"no header row found; expected {expected}", "error")]
        )

    position, header_line, index = best
    header_row = records[position][1]
    headers = {key: header_row[i].strip() for key, i in index.items()}
    duplicates = _duplicate_issues(header_line, header_row, _match_header(header_row, by_alias)[1])
    if duplicates:
        return Table(header_line, headers, [], duplicates)
    for column in columns:  # an absent optional column is named by its usual header
        headers.setdefault(column.key, column.aliases[0])
    missing = [c for c in columns if c.required and c.key not in index]
    if missing:
        issues = [
            RowIssue(header_line, c.aliases[0], "required column missing from the header", "error")
            for c in missing
        ]
        return Table(header_line, headers, [], issues)

    table_records = []
    for line, row in records[position + 1 :]:
        if not any(c.strip() for c in row):
            continue
        cells = {key: normalise_cell(row[i]) if i < len(row) else "" for key, i in index.items()}
        table_records.append(Record(line, cells))
    return Table(header_line, headers, table_records)


def is_total_row(record: Record) -> bool:
    """A trailing 合计/总计 row some offices add to the bottom of a list."""
    return any(v.replace(" ", "").startswith(("合计", "总计")) for v in record.cells.values())


_CJK = r"\u3400-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_PERIOD_RE = re.compile(r"^(\d{4})\s*(?:[-/.年]\s*)?(\d{1,2})\s*月?$")
_DATE_RE = re.compile(r"^(\d{4})\s*[-/.年]?\s*(\d{1,2})\s*[-/.月]?\s*(\d{1,2})\s*日?$")


def normalise_name(text: str) -> str:
    """Collapse inner spaces; drop spaces between Chinese characters (``张 三`` → ``张三``)."""
    text = re.sub(r"\s+", " ", text).strip()
    return re.sub(rf"(?<=[{_CJK}·]) (?=[{_CJK}·])", "", text)


def area_code_known(code: str) -> bool:
    """Whether a GB/T 2260 code ever named a county-level unit (or province) in stdnum's table.

    The code's years of validity are not compared with the birth year: numbers issued from 1984
    on carry the code current at issue, not at birth.
    """
    info: dict[str, str] = {}
    for _part, props in numdb.get("cn/loc").info(code):
        info.update(props)
    return "county" in info


def id_number_problems(number: str, *, today: dt.date) -> tuple[list[str], list[str]]:
    """(errors, warnings) for an 18-character resident ID number (公民身份号码)."""
    if len(number) != 18:
        return [f"ID number must have 18 characters, found {len(number)}"], []
    if not number[:17].isdigit() or not (number[17].isdigit() or number[17] == "X"):
        return ["ID number must be 17 digits followed by a digit or X"], []
    errors = []
    try:
        birth = ric.get_birth_date(number)
    except Exception:
        errors.append(f"birth date {number[6:14]} in the ID number is not a date")
    else:
        if not dt.date(1890, 1, 1) <= birth <= today:
            errors.append(f"birth date {birth.isoformat()} in the ID number is out of range")
    expected = ric.calc_check_digit(number)
    if number[17] != expected:
        errors.append(f"ID number check digit is {number[17]}, expected {expected}")
    warnings = [] if area_code_known(number[:6]) else [f"unknown area code {number[:6]}"]
    return errors, warnings


def parse_period(text: str) -> str | None:
    """``YYYYMM`` from ``202401``, ``2024-01``, ``2024/1`` or ``2024年1月``; None if invalid."""
    match = _PERIOD_RE.match(text)
    if match is None:
        return None
    year, month = int(match[1]), int(match[2])
    if not (1949 <= year <= 2100 and 1 <= month <= 12):
        return None
    return f"{year:04d}{month:02d}"


def parse_date(text: str) -> dt.date | None:
    match = _DATE_RE.match(text)
    if match is None:
        return None
    try:
        return dt.date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None


class RowChecker:
    """Reads one record's cells, recording an issue for each cell it cannot accept."""

    def __init__(self, record: Record, headers: dict[str, str], issues: list[RowIssue]) -> None:
        self.record = record
        self.headers = headers
        self.issues = issues
        self.ok = True

    def issue(self, key: str, reason: str, severity: Severity = "error") -> None:
        if severity == "error":
            self.ok = False
        self.issues.append(RowIssue(self.record.line, self.headers.get(key, key), reason, severity))

    def text(self, key: str, *, required: bool = True) -> str:
        value = self.record.cells.get(key, "")
        if not value and required:
            self.issue(key, "value is empty")
        elif len(value) > _MAX_TEXT:
            self.issue(key, f"value longer than {_MAX_TEXT} characters")
            return ""
        return value

    def name(self, key: str) -> str:
        return normalise_name(self.text(key))

    def id_number(self, key: str, *, today: dt.date) -> str:
        value = re.sub(r"\s", "", self.text(key)).upper()
        if not value:
            return ""
        errors, warnings = id_number_problems(value, today=today)
        for reason in errors:
            self.issue(key, reason)
        for reason in warnings:
            self.issue(key, reason, "warning")
        return value

    def digits(self, key: str, *, min_len: int, max_len: int) -> str:
        value = re.sub(r"[\s-]", "", self.text(key))
        if value and not (value.isdigit() and min_len <= len(value) <= max_len):
            self.issue(key, f"must be {min_len}–{max_len} digits, found {value!r}")
        return value

    def account_no(self, key: str) -> str:
        value = self.digits(key, min_len=12, max_len=19)
        if value.isdigit() and 16 <= len(value) <= 19 and not luhn.is_valid(value):
            self.issue(key, "card number fails the Luhn check", "warning")
        return value

    def amount_fen(self, key: str, *, allow_zero: bool = False) -> int:
        value = re.sub(r"[\s,¥￥元]", "", self.text(key))
        if not value:
            return 0
        try:
            return parse_amount_fen(value, allow_zero=allow_zero)
        except AmountError as exc:
            self.issue(key, str(exc))
            return 0

    def positive_int(self, key: str, *, suffix: str = "") -> int:
        value = self.text(key).removesuffix(suffix).strip()
        if value and not (value.isdigit() and int(value) >= 1):
            self.issue(key, f"must be a whole number of at least 1, found {value!r}")
            return 0
        return int(value) if value else 0

    def period(self, key: str, *, required: bool = True) -> str | None:
        value = self.text(key, required=required)
        if not value:
            return None
        period = parse_period(value)
        if period is None:
            self.issue(key, f"not a valid period YYYYMM: {value!r}")
        return period

    def date(self, key: str, *, required: bool = True, today: dt.date) -> dt.date | None:
        value = self.text(key, required=required)
        if not value:
            return None
        date = parse_date(value)
        if date is None:
            self.issue(key, f"not a valid date YYYY-MM-DD: {value!r}")
        elif date > today:
            self.issue(key, f"date {date.isoformat()} is in the future")
        return date

    def yes_no(self, key: str) -> bool:
        value = self.text(key).lower()
        if value in {"是", "已备案", "y", "yes", "true", "1"}:
            return True
        if value in {"否", "未备案", "n", "no", "false", "0"}:
            return False
        if value:
            self.issue(key, f"must be 是 or 否, found {value!r}")
        return False


def column_table(columns: Sequence[Column]) -> dict[str, str]:
    """Key → the header our writers use."""
    return {c.key: c.aliases[0] for c in columns}


RowT = TypeVar("RowT")

# Reads one record into a row; also returns the key that must be unique in the file, or None.
RowReader = Callable[[RowChecker, Record, dt.date], tuple[RowT, tuple[str, ...] | None]]


def parse_rows(
    data: bytes,
    columns: Sequence[Column],
    read_row: RowReader[RowT],
    *,
    duplicate: str,
    duplicate_column: str,
    today: dt.date,
) -> tuple[list[RowT], list[RowIssue]]:
    """Read a file kind: the rows without errors, and every issue. Never raises for content."""
    table = read_table(data, columns)
    rows: list[RowT] = []
    issues = list(table.issues)
    first_line: dict[tuple[str, ...], int] = {}
    for record in table.records:
        if is_total_row(record):
            issues.append(RowIssue(record.line, "", "total row ignored", "warning"))
            continue
        check = RowChecker(record, table.headers, issues)
        row, key = read_row(check, record, today)
        if key is not None and all(key):
            seen = first_line.setdefault(key, record.line)
            if seen != record.line:
                check.issue(duplicate_column, f"{duplicate}, first on line {seen}")
        if check.ok:
            rows.append(row)
    if not table.records and not issues:
        issues.append(RowIssue(table.header_line, "", "no data rows under the header", "warning"))
    return rows, issues
