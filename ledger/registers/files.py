"""Reference registers the checks compare the roster with, read from CSV or XLSX.

- standards table (保障标准): the monthly standard per jurisdiction, fund and effective month;
- death register (死亡登记): who died and when;
- public payroll list (财政供养人员): who is paid by a public employer;
- staff-relative register (近亲属备案): relatives of civil-affairs staff and whether filed.

Same conventions as the roster: never raises for bad content, every issue names the line, the
column as headed in the file and the reason; rows with an error are left out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from ledger.roster.tabular import Column, Record, RowChecker, RowIssue, RowReader, parse_rows

__all__ = [
    "DEATH_COLUMNS",
    "PAYROLL_COLUMNS",
    "STAFF_RELATIVE_COLUMNS",
    "STANDARD_COLUMNS",
    "DeathRow",
    "PayrollRow",
    "RegisterParseResult",
    "RowIssue",
    "StaffRelativeRow",
    "StandardRow",
    "parse_death_register",
    "parse_payroll",
    "parse_staff_relatives",
    "parse_standards",
]

_ID = ("公民身份号码", "身份证号", "身份证号码", "证件号码")
_NAME = ("姓名",)
_FUND = ("救助类别", "资金类别", "保障类别", "资金项目")

STANDARD_COLUMNS: tuple[Column, ...] = (
    Column("jurisdiction_code", ("行政区划代码", "区划代码", "县区代码", "地区代码")),
    Column("fund", _FUND),
    Column("effective_from", ("生效年月", "执行起始年月", "起始期", "执行年月")),
    Column("monthly_standard", ("月保障标准", "保障标准", "标准金额", "月标准")),
)
DEATH_COLUMNS: tuple[Column, ...] = (
    Column("id_number", _ID),
    Column("name", _NAME),
    Column("date_of_death", ("死亡日期", "死亡时间")),
)
PAYROLL_COLUMNS: tuple[Column, ...] = (
    Column("id_number", _ID),
    Column("name", _NAME),
    Column("employer", ("工作单位", "单位名称", "所在单位", "供养单位")),
)
STAFF_RELATIVE_COLUMNS: tuple[Column, ...] = (
    Column("staff_id_number", ("工作人员身份证号", "工作人员公民身份号码", "干部身份证号")),
    Column("staff_name", ("工作人员姓名", "干部姓名")),
    Column("relative_id_number", ("亲属身份证号", "近亲属身份证号", "亲属公民身份号码")),
    Column("relative_name", ("亲属姓名", "近亲属姓名")),
    Column("relation", ("关系", "亲属关系", "与工作人员关系")),
    Column("filed", ("是否备案", "已备案")),
    Column("filing_date", ("备案日期", "备案时间"), required=False),
)


@dataclass(frozen=True, slots=True)
class StandardRow:
    line_no: int
    jurisdiction_code: str
    fund: str  # as written; the caller resolves it
    effective_from: str  # YYYYMM
    monthly_standard_fen: int


@dataclass(frozen=True, slots=True)
class DeathRow:
    line_no: int
    id_number: str
    name: str
    date_of_death: dt.date


@dataclass(frozen=True, slots=True)
class PayrollRow:
    line_no: int
    id_number: str
    name: str
    employer: str


@dataclass(frozen=True, slots=True)
class StaffRelativeRow:
    line_no: int
    staff_id_number: str
    staff_name: str
    relative_id_number: str
    relative_name: str
    relation: str
    filed: bool
    filing_date: dt.date | None


RowT = TypeVar("RowT")


@dataclass
class RegisterParseResult(Generic[RowT]):
    rows: list[RowT]
    issues: list[RowIssue] = field(default_factory=list)

    @property
    def has_errors(self) -> bool:
        return any(i.severity == "error" for i in self.issues)


def _result(
    data: bytes,
    columns: Sequence[Column],
    read_row: RowReader[RowT],
    *,
    duplicate: str,
    duplicate_column: str,
    today: dt.date | None,
) -> RegisterParseResult[RowT]:
    rows, issues = parse_rows(
        data,
        columns,
        read_row,
        duplicate=duplicate,
        duplicate_column=duplicate_column,
        today=today or dt.date.today(),
    )
    return RegisterParseResult(rows, issues)


def _standard(
    check: RowChecker, record: Record, today: dt.date
) -> tuple[StandardRow, tuple[str, ...]]:
    row = StandardRow(
        line_no=record.line,
        jurisdiction_code=check.digits("jurisdiction_code", min_len=6, max_len=6),
        fund=check.text("fund"),
        effective_from=check.period("effective_from") or "",
        monthly_standard_fen=check.amount_fen("monthly_standard"),
    )
    return row, (row.jurisdiction_code, row.fund, row.effective_from)


def parse_standards(
    data: bytes, *, today: dt.date | None = None
) -> RegisterParseResult[StandardRow]:
    """The standards table; a second standard for the same jurisdiction, fund and month is an error."""
    return _result(
        data,
        STANDARD_COLUMNS,
        _standard,
        duplicate="second standard for the same jurisdiction, fund and month",
        duplicate_column="effective_from",
        today=today,
    )


def _death(check: RowChecker, record: Record, today: dt.date) -> tuple[DeathRow, tuple[str, ...]]:
    id_number = check.id_number("id_number", today=today)
    died = check.date("date_of_death", today=today)
    if died is not None and check.ok and died < _birth_date(id_number):
        check.issue("date_of_death", "date of death is before the birth date in the ID number")
    row = DeathRow(record.line, id_number, check.name("name"), died or dt.date.min)
    return row, (id_number,)


def _birth_date(id_number: str) -> dt.date:
    return dt.date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))


def parse_death_register(
    data: bytes, *, today: dt.date | None = None
) -> RegisterParseResult[DeathRow]:
    """The death register; the same ID number twice is an error (which date is right?)."""
    return _result(
        data,
        DEATH_COLUMNS,
        _death,
        duplicate="duplicate ID number",
        duplicate_column="id_number",
        today=today,
    )


def _payroll(check: RowChecker, record: Record, today: dt.date) -> tuple[PayrollRow, None]:
    row = PayrollRow(
        line_no=record.line,
        id_number=check.id_number("id_number", today=today),
        name=check.name("name"),
        employer=check.text("employer"),
    )
    return row, None  # someone may hold posts with two employers


def parse_payroll(data: bytes, *, today: dt.date | None = None) -> RegisterParseResult[PayrollRow]:
    return _result(data, PAYROLL_COLUMNS, _payroll, duplicate="", duplicate_column="", today=today)


def _staff_relative(
    check: RowChecker, record: Record, today: dt.date
) -> tuple[StaffRelativeRow, tuple[str, ...]]:
    staff_id = check.id_number("staff_id_number", today=today)
    relative_id = check.id_number("relative_id_number", today=today)
    if staff_id and staff_id == relative_id:
        check.issue("relative_id_number", "relative's ID number is the staff member's own")
    filed = check.yes_no("filed")
    filing_date = check.date("filing_date", required=False, today=today)
    if filed and filing_date is None:
        check.issue("filing_date", "filed but no filing date given", "warning")
    if not filed and filing_date is not None:
        check.issue("filing_date", "filing date given but not marked as filed", "warning")
    row = StaffRelativeRow(
        line_no=record.line,
        staff_id_number=staff_id,
        staff_name=check.name("staff_name"),
        relative_id_number=relative_id,
        relative_name=check.name("relative_name"),
        relation=check.text("relation"),
        filed=filed,
        filing_date=filing_date,
    )
    return row, (staff_id, relative_id)


def parse_staff_relatives(
    data: bytes, *, today: dt.date | None = None
) -> RegisterParseResult[StaffRelativeRow]:
    return _result(
        data,
        STAFF_RELATIVE_COLUMNS,
        _staff_relative,
        duplicate="this staff member and relative are already listed",
        duplicate_column="relative_id_number",
        today=today,
    )
