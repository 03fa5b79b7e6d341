"""Reference registers the checks compare the roster with, read from CSV or XLSX.

- standards table (保障标准): the monthly standard per jurisdiction, fund and effective month;
- death register (死亡登记): who died and when;
- public payroll list (财政供养人员): who is paid by a public employer;
- staff-relative register (近亲属备案): relatives of civil-affairs staff and whether filed;
- household reviews (动态复核): information checks and home visits of a household;
- holdings (家庭经济状况核对): balances and values banks, securities firms and insurers report;
- asset limits (资产限额): the financial assets allowed per household member, dated.

Same conventions as the roster: never raises for bad content, every issue names the line, the
column as headed in the file and the reason; rows with an error are left out.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from ledger.roster.tabular import Column, Record, RowChecker, RowIssue, RowReader, parse_rows

__all__ = [
    "ASSET_LIMIT_COLUMNS",
    "DEATH_COLUMNS",
    "HOLDING_COLUMNS",
    "INSTITUTION_KINDS",
    "PAYROLL_COLUMNS",
    "REVIEW_COLUMNS",
    "REVIEW_KINDS",
    "STAFF_RELATIVE_COLUMNS",
    "STANDARD_COLUMNS",
    "AssetLimitRow",
    "DeathRow",
    "HoldingRow",
    "PayrollRow",
    "RegisterParseResult",
    "ReviewRow",
    "RowIssue",
    "StaffRelativeRow",
    "StandardRow",
    "parse_asset_limits",
    "parse_death_register",
    "parse_holdings",
    "parse_payroll",
    "parse_reviews",
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


REVIEW_KINDS = {
    "information_check": "information_check",
    "信息化核对": "information_check",
    "信息核对": "information_check",
    "经济状况核对": "information_check",
    "home_visit": "home_visit",
    "入户调查": "home_visit",
    "入户核查": "home_visit",
    "入户走访": "home_visit",
}
INSTITUTION_KINDS = {
    "bank": "bank",
    "银行": "bank",
    "securities": "securities",
    "证券": "securities",
    "证券公司": "securities",
    "insurer": "insurer",
    "保险": "insurer",
    "保险公司": "insurer",
}

REVIEW_COLUMNS: tuple[Column, ...] = (
    Column("county_code", ("县区代码", "区县代码", "行政区划代码", "区划代码")),
    Column("household_id", ("户主编号", "家庭编号", "户编号", "家庭户编号")),
    Column("kind", ("复核方式", "核查方式", "复核类型")),
    Column("reviewed_on", ("复核日期", "核查日期", "调查日期")),
    Column("outcome", ("复核结果", "核查结果", "结论")),
    Column("reviewer", ("复核人", "核查人", "调查人")),
    Column("assets", ("核对金融资产", "金融资产", "核对资产"), required=False),
)
HOLDING_COLUMNS: tuple[Column, ...] = (
    Column("id_number", _ID),
    Column("name", _NAME),
    Column("institution_kind", ("机构类别", "机构类型")),
    Column("institution", ("机构代码", "机构名称", "银行代码")),
    Column("account", ("账号或保单号", "账号", "证券账户", "保单号")),
    Column("value", ("余额或价值", "存款余额", "市值", "现金价值", "余额")),
    Column("as_of", ("截至日期", "统计日期", "余额日期")),
)
ASSET_LIMIT_COLUMNS: tuple[Column, ...] = (
    Column("jurisdiction_code", ("行政区划代码", "区划代码", "县区代码", "地区代码")),
    Column("fund", _FUND),
    Column("effective_from", ("生效年月", "执行起始年月", "起始期", "执行年月")),
    Column("per_person", ("人均金融资产限额", "人均资产限额", "资产限额")),
)


@dataclass(frozen=True, slots=True)
class ReviewRow:
    line_no: int
    county_code: str
    household_id: str
    kind: str  # information_check | home_visit
    reviewed_on: dt.date
    outcome: str
    reviewer: str
    assets_fen: int | None  # what an information check found; None for a visit or not given


@dataclass(frozen=True, slots=True)
class HoldingRow:
    line_no: int
    id_number: str
    name: str
    institution_kind: str  # bank | securities | insurer
    institution: str
    account: str
    value_fen: int
    as_of: dt.date


@dataclass(frozen=True, slots=True)
class AssetLimitRow:
    line_no: int
    jurisdiction_code: str
    fund: str  # as written; the caller resolves it
    effective_from: str  # YYYYMM
    per_person_fen: int


def _choice(check: RowChecker, key: str, table: dict[str, str]) -> str:
    value = check.text(key)
    chosen = table.get(value) or table.get(value.lower(), "")
    if value and not chosen:
        check.issue(key, f"must be one of {'、'.join(sorted(set(table) - set(table.values())))}")
    return chosen


def _review(check: RowChecker, record: Record, today: dt.date) -> tuple[ReviewRow, tuple[str, ...]]:
    kind = _choice(check, "kind", REVIEW_KINDS)
    reviewed_on = check.date("reviewed_on", today=today) or dt.date.min
    assets: int | None = None
    if record.cells.get("assets", ""):
        assets = check.amount_fen("assets", allow_zero=True)
        if kind == "home_visit":
            check.issue("assets", "assets are found by an information check, not a home visit")
    row = ReviewRow(
        line_no=record.line,
        county_code=check.digits("county_code", min_len=6, max_len=6),
        household_id=check.text("household_id"),
        kind=kind,
        reviewed_on=reviewed_on,
        outcome=check.text("outcome"),
        reviewer=check.name("reviewer"),
        assets_fen=assets,
    )
    return row, (row.county_code, row.household_id, kind, reviewed_on.isoformat())


def parse_reviews(data: bytes, *, today: dt.date | None = None) -> RegisterParseResult[ReviewRow]:
    """Household reviews; the same household, kind and day twice is an error."""
    return _result(
        data,
        REVIEW_COLUMNS,
        _review,
        duplicate="the same review of this household on this day is already listed",
        duplicate_column="reviewed_on",
        today=today,
    )


def _holding(
    check: RowChecker, record: Record, today: dt.date
) -> tuple[HoldingRow, tuple[str, ...]]:
    row = HoldingRow(
        line_no=record.line,
        id_number=check.id_number("id_number", today=today),
        name=check.name("name"),
        institution_kind=_choice(check, "institution_kind", INSTITUTION_KINDS),
        institution=check.text("institution"),
        account=re.sub(r"\s", "", check.text("account")),
        value_fen=check.amount_fen("value", allow_zero=True),
        as_of=check.date("as_of", today=today) or dt.date.min,
    )
    return row, (row.institution, row.account, row.as_of.isoformat())


def parse_holdings(data: bytes, *, today: dt.date | None = None) -> RegisterParseResult[HoldingRow]:
    """Holdings; the same institution, account and date twice is an error (which value?)."""
    return _result(
        data,
        HOLDING_COLUMNS,
        _holding,
        duplicate="this account is already reported for this date",
        duplicate_column="account",
        today=today,
    )


def _asset_limit(
    check: RowChecker, record: Record, today: dt.date
) -> tuple[AssetLimitRow, tuple[str, ...]]:
    row = AssetLimitRow(
        line_no=record.line,
        jurisdiction_code=check.digits("jurisdiction_code", min_len=6, max_len=6),
        fund=check.text("fund"),
        effective_from=check.period("effective_from") or "",
        per_person_fen=check.amount_fen("per_person", allow_zero=True),
    )
    return row, (row.jurisdiction_code, row.fund, row.effective_from)


def parse_asset_limits(
    data: bytes, *, today: dt.date | None = None
) -> RegisterParseResult[AssetLimitRow]:
    """The asset-limit table; a second limit for the same jurisdiction, fund and month is an error."""
    return _result(
        data,
        ASSET_LIMIT_COLUMNS,
        _asset_limit,
        duplicate="second limit for the same jurisdiction, fund and month",
        duplicate_column="effective_from",
        today=today,
    )
