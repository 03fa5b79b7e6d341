"""The roster file (花名册): one row per household and fund, as a county's civil-affairs bureau
keeps it, read from CSV (UTF-8, UTF-8 with BOM, GBK/GB18030) or XLSX.

Whether the fund is known and the county is in the uploader's scope needs the database: the
caller checks those. Everything a file can say about itself is checked here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from ledger.jurisdictions.catalog import resolve_fund
from ledger.roster.tabular import (
    Column,
    Record,
    RowChecker,
    RowIssue,
    column_table,
    parse_rows,
)

__all__ = ["ROSTER_COLUMNS", "RosterParseResult", "RosterRow", "RowIssue", "parse_roster"]


# Header aliases, one table. The first alias is the header our own writers use.
ROSTER_COLUMNS: tuple[Column, ...] = (
    Column("household_id", ("户主编号", "家庭编号", "户编号", "家庭户编号")),
    Column("name", ("姓名", "户主姓名", "收款人姓名", "保障对象姓名")),
    Column("id_number", ("公民身份号码", "身份证号", "身份证号码", "户主身份证号", "证件号码")),
    Column("fund", ("救助类别", "资金类别", "保障类别", "资金项目")),
    Column("county_code", ("县区代码", "区县代码", "行政区划代码", "区划代码")),
    Column("township", ("乡镇(街道)", "乡镇", "街道", "乡镇街道", "镇街")),
    Column("village", ("村(社区)", "村", "社区", "村居", "村社区", "村居委会")),
    Column("household_size", ("家庭人口", "保障人口", "家庭人数", "保障人数")),
    Column("monthly_amount", ("月发放金额", "月救助金额", "月保障金额", "发放金额")),
    Column("bank_code", ("开户银行代码", "银行代码", "开户行代码", "开户行行号")),
    Column("account_no", ("银行账号", "银行卡号", "收款账号", "账号", "卡号")),
    Column("account_name", ("账户户名", "开户人", "户名", "收款户名", "开户人姓名")),
    Column("start_period", ("起始期", "开始年月", "起始年月", "发放起始年月")),
    Column("end_period", ("终止期", "结束年月", "终止年月", "发放终止年月"), required=False),
)
ROSTER_HEADERS: dict[str, str] = column_table(ROSTER_COLUMNS)


@dataclass(frozen=True, slots=True)
class RosterRow:
    line_no: int
    household_id: str
    name: str
    id_number: str  # 18 characters, upper-case X
    fund: str  # as written: a fund code, a 7-digit budget function code or a Chinese name
    county_code: str
    township: str
    village: str
    household_size: int
    monthly_amount_fen: int
    bank_code: str
    account_no: str
    account_name: str
    start_period: str  # YYYYMM
    end_period: str | None


@dataclass
class RosterParseResult:
    """The rows that passed every check, and every issue found.

    A row with an error is left out of ``rows``; a row with only warnings is kept.
    """

    rows: list[RosterRow]
    issues: list[RowIssue]

    @property
    def has_errors(self) -> bool:
        return any(i.severity == "error" for i in self.issues)


def _roster_row(
    check: RowChecker, record: Record, today: dt.date
) -> tuple[RosterRow, tuple[str, ...]]:
    start = check.period("start_period")
    end = check.period("end_period", required=False)
    if start and end and end < start:
        check.issue("end_period", f"end period {end} is before start period {start}")
    row = RosterRow(
        line_no=record.line,
        household_id=check.text("household_id"),
        name=check.name("name"),
        id_number=check.id_number("id_number", today=today),
        fund=check.text("fund"),
        county_code=check.digits("county_code", min_len=6, max_len=6),
        township=check.text("township"),
        village=check.text("village"),
        household_size=check.positive_int("household_size", suffix="人"),
        monthly_amount_fen=check.amount_fen("monthly_amount"),
        bank_code=check.text("bank_code"),
        account_no=check.account_no("account_no"),
        account_name=check.name("account_name"),
        start_period=start or "",
        end_period=end,
    )
    # The same person twice under one fund is an error here, the fund compared by its canonical
    # code (a name and a budget code of one fund are the same fund); under two funds it is for
    # the caller's mutually-exclusive-programs rule.
    spec = resolve_fund(row.fund)
    return row, (row.id_number, spec.code if spec else row.fund)


def parse_roster(data: bytes, *, filename: str, today: dt.date | None = None) -> RosterParseResult:
    """Read a roster. Never raises for bad content: every problem becomes an issue.

    ``filename`` is kept for callers' messages; the format is sniffed from the content (an
    XLSX workbook starts with the zip magic). ``today`` bounds birth dates (default: today).
    """
    rows, issues = parse_rows(
        data,
        ROSTER_COLUMNS,
        _roster_row,
        duplicate="duplicate ID number for this fund",
        duplicate_column="id_number",
        today=today or dt.date.today(),
    )
    return RosterParseResult(rows, issues)
