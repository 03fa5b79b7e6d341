"""Roster and register files: encodings, formats, and every check naming line, column, reason."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.registers.files import (
    parse_death_register,
    parse_payroll,
    parse_staff_relatives,
    parse_standards,
)
from ledger.roster.files import RosterParseResult, RowIssue, parse_roster
from ledger.roster.synthetic import (
    generate_roster,
    plant_problems,
    write_roster_csv,
    write_roster_xlsx,
)

TODAY = dt.date(2025, 6, 1)
HEADER = (
    "户主编号,姓名,公民身份号码,救助类别,县区代码,乡镇（街道）,村（社区）,家庭人口,"
    "月发放金额,开户银行代码,银行账号,账户户名,起始期,终止期"
)
GOOD_CARD = "6222021234567890128"


def _id(body17: str) -> str:
    from stdnum.cn import ric

    return body17 + ric.calc_check_digit(body17 + "0")


def _wrong_check_digit(body17: str) -> str:
    right = _id(body17)[-1]
    return body17 + ("1" if right != "1" else "2")


def _row(**overrides: str) -> str:
    values = {
        "household_id": "H001",
        "name": "张三",
        "id_number": _id("44010319550101123"),
        "fund": "urban_minimum_living",
        "county_code": "440103",
        "township": "城关街道",
        "village": "东村",
        "size": "3",
        "amount": "1234.50",
        "bank": "102",
        "account": GOOD_CARD,
        "account_name": "张三",
        "start": "202401",
        "end": "",
    }
    values.update(overrides)
    return ",".join(values.values())


def _parse(*rows: str, encoding: str = "utf-8") -> RosterParseResult:
    text = "\r\n".join((HEADER, *rows)) + "\r\n"
    return parse_roster(text.encode(encoding), filename="roster.csv", today=TODAY)


def _only(result: RosterParseResult, severity: str = "error") -> RowIssue:
    issues = [i for i in result.issues if i.severity == severity]
    assert len(issues) == 1, result.issues
    return issues[0]


def test_good_row_in_utf8_bom_and_gbk() -> None:
    for encoding in ("utf-8", "utf-8-sig", "gbk", "gb18030"):
        result = _parse(_row(), encoding=encoding)
        assert result.issues == [] and not result.has_errors
        (row,) = result.rows
        assert (row.line_no, row.name, row.monthly_amount_fen) == (2, "张三", 123450)
        assert (row.township, row.start_period, row.end_period) == ("城关街道", "202401", None)


def test_title_row_blank_lines_full_width_and_spaces() -> None:
    full_width_id = _id("44010319550101123").translate(
        str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")
    )
    text = "\r\n".join(
        (
            "荔湾区城市低保花名册,,,",
            HEADER,
            "",
            ",,,,",
            _row(id_number=full_width_id, name=" 张 三 ", amount='"1,234.50"', size="３"),
            "",
        )
    )
    result = parse_roster(text.encode("utf-8"), filename="r.csv", today=TODAY)
    assert not result.has_errors, result.issues
    (row,) = result.rows
    assert row.line_no == 5
    assert row.id_number == _id("44010319550101123")
    assert (row.name, row.household_size, row.monthly_amount_fen) == ("张三", 3, 123450)


def test_lower_case_x_is_upper_cased() -> None:
    body = next(b for b in (f"4401031955010112{d}" for d in range(10)) if _id(b).endswith("X"))
    result = _parse(_row(id_number=_id(body).lower()))
    assert result.rows[0].id_number.endswith("X")


def test_xlsx_roster() -> None:
    rows = generate_roster(
        "440103",
        households=5,
        seed=1,
        funds=["城市低保"],
        bank_codes=["102"],
        start_period="202401",
    )
    result = parse_roster(write_roster_xlsx(rows), filename="roster.xlsx", today=TODAY)
    assert result.issues == [] and result.rows == rows


@pytest.mark.parametrize(
    ("overrides", "column", "fragment"),
    [
        ({"id_number": _wrong_check_digit("44010319550101123")}, "公民身份号码", "check digit"),
        ({"id_number": _id("44010319551301123")}, "公民身份号码", "birth date"),
        ({"id_number": _id("44010320990101123")}, "公民身份号码", "out of range"),
        ({"id_number": "4401031955010112"}, "公民身份号码", "18 characters"),
        ({"amount": "12.345"}, "月发放金额", "at most 2 places"),
        ({"amount": "0"}, "月发放金额", "greater than zero"),
        ({"amount": "-5"}, "月发放金额", "decimal"),
        ({"size": "0"}, "家庭人口", "at least 1"),
        ({"account": "12345"}, "银行账号", "12–19 digits"),
        ({"start": "202413"}, "起始期", "YYYYMM"),
        ({"end": "202312"}, "终止期", "before start"),
        ({"name": ""}, "姓名", "empty"),
        ({"county_code": "4401"}, "县区代码", "6–6 digits"),
    ],
)
def test_errors_name_line_column_reason(
    overrides: dict[str, str], column: str, fragment: str
) -> None:
    second = {"household_id": "H002", "id_number": _id("44010319600101123"), **overrides}
    result = _parse(_row(), _row(**second))
    issue = _only(result)
    assert (issue.line, issue.column) == (3, column)
    assert fragment in issue.reason
    assert result.has_errors and [r.line_no for r in result.rows] == [2]


def test_unknown_area_code_is_only_a_warning() -> None:
    result = _parse(_row(id_number=_id("99999919550101123")))
    issue = _only(result, "warning")
    assert (issue.line, issue.column, issue.reason) == (
        2,
        "公民身份号码",
        "unknown area code 999999",
    )
    assert not result.has_errors and len(result.rows) == 1


def test_unknown_area_code_still_checks_check_digit() -> None:
    bad = _wrong_check_digit("99999919550101123")
    result = _parse(_row(id_number=bad))
    assert result.has_errors
    assert {i.severity for i in result.issues} == {"error", "warning"}


def test_luhn_failure_is_a_warning() -> None:
    result = _parse(_row(account="6222021234567890127"))
    issue = _only(result, "warning")
    assert (issue.line, issue.column) == (2, "银行账号") and "Luhn" in issue.reason
    assert not result.has_errors and result.rows[0].account_no == "6222021234567890127"


def test_duplicate_id_for_the_same_fund_is_an_error_naming_the_first_line() -> None:
    result = _parse(_row(), _row(household_id="H002"))
    issue = _only(result)
    assert (issue.line, issue.column) == (3, "公民身份号码")
    assert "duplicate" in issue.reason and "line 2" in issue.reason
    other_fund = _parse(_row(), _row(household_id="H002", fund="rural_minimum_living"))
    assert other_fund.issues == [] and len(other_fund.rows) == 2


def test_missing_column_is_reported_on_the_header_line() -> None:
    text = "说明\n" + HEADER.replace(",银行账号", "") + "\n"
    result = parse_roster(text.encode(), filename="r.csv")
    assert result.rows == []
    assert [(i.line, i.column) for i in result.issues] == [(2, "银行账号")]


def test_every_issue_names_line_column_and_reason() -> None:
    rows = [_row(id_number="123", amount="1.001", size="x", account="1", start="2024", name="")]
    result = _parse(*rows)
    assert len(result.issues) >= 5
    for issue in result.issues:
        assert issue.line == 2 and issue.column and issue.reason


def test_undecodable_and_broken_xlsx_are_issues() -> None:
    assert parse_roster(b"\xff\xfe\x81\x00\x80", filename="x.csv").has_errors
    assert parse_roster(b"PK\x03\x04not a zip", filename="x.xlsx").has_errors
    assert parse_roster(b"", filename="x.csv").has_errors


FUNDS = ["urban_minimum_living", "2082101", "农村低保"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    households=st.integers(min_value=1, max_value=40),
    seed=st.integers(min_value=0, max_value=2**32),
    county=st.sampled_from(["440103", "441900", "445381", "440106"]),
)
def test_synthetic_rosters_round_trip(households: int, seed: int, county: str) -> None:
    rows = generate_roster(
        county,
        households=households,
        seed=seed,
        funds=FUNDS,
        bank_codes=["102", "105", "314", "999"],
        start_period="202401",
    )
    files = [
        write_roster_csv(rows),
        write_roster_csv(rows, encoding="gbk"),
        b"\xef\xbb\xbf" + write_roster_csv(rows),
        write_roster_xlsx(rows),
    ]
    for data in files:
        result = parse_roster(data, filename="roster", today=TODAY)
        assert result.issues == []
        assert result.rows == rows


def test_synthetic_rows_are_plausible() -> None:
    rows = generate_roster(
        "440103", households=300, seed=3, funds=FUNDS, bank_codes=["102"], start_period="202401"
    )
    assert rows == generate_roster(
        "440103", households=300, seed=3, funds=FUNDS, bank_codes=["102"], start_period="202401"
    )
    assert len({r.id_number for r in rows}) == len({r.account_no for r in rows}) == 300
    for row in rows:
        assert row.id_number.startswith("440103") and 1930 <= int(row.id_number[6:10]) <= 2015
        assert row.account_no.startswith("62") and 16 <= len(row.account_no) <= 19
        assert 1 <= row.household_size <= 5 and 2 <= len(row.name) <= 4
        assert 0 < row.monthly_amount_fen <= 1400_00 * row.household_size


def test_planted_problems() -> None:
    rows = generate_roster(
        "440103", households=50, seed=5, funds=FUNDS, bank_codes=["102"], start_period="202401"
    )
    planted = plant_problems(rows, random.Random(9))
    assert len(planted) == 51
    by_id: dict[str, set[str]] = {}
    for r in planted:
        by_id.setdefault(r.id_number, set()).add(r.household_id)
    assert any(len(h) == 2 for h in by_id.values())
    by_account: dict[str, set[str]] = {}
    for r in planted:
        by_account.setdefault(r.account_no, set()).add(r.household_id)
    assert any(len(h) == 2 for h in by_account.values())
    assert any(r.account_name != r.name for r in planted)
    result = parse_roster(write_roster_csv(planted), filename="r.csv", today=TODAY)
    assert not result.has_errors  # the duplicate person is under another fund


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_parse_roster_never_raises_on_arbitrary_bytes(data: bytes) -> None:
    result = parse_roster(data, filename="anything")
    assert all(isinstance(i, RowIssue) for i in result.issues)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=30), max_size=16), st.sampled_from(["utf-8", "gb18030"]))
def test_parse_roster_never_raises_on_arbitrary_rows(cells: list[str], encoding: str) -> None:
    text = HEADER + "\n" + ",".join(c.replace("\x00", "") for c in cells) + "\n"
    result = parse_roster(text.encode(encoding, errors="replace"), filename="r.csv")
    assert result.issues or result.rows


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=500))
def test_parse_xlsx_like_bytes_never_raises(tail: bytes) -> None:
    parse_roster(b"PK\x03\x04" + tail, filename="x.xlsx")


def test_standards_register() -> None:
    text = "区划代码,救助类别,生效年月,月保障标准（元）\n440103,城市低保,2024-01,1200\n440103,城市低保,202401,1300\n440104,城市低保,2024年7月,1.5.0\n"
    result = parse_standards(text.encode("gbk"), today=TODAY)
    assert [
        (r.jurisdiction_code, r.effective_from, r.monthly_standard_fen) for r in result.rows
    ] == [("440103", "202401", 120000)]
    assert [(i.line, i.column) for i in result.issues] == [(3, "生效年月"), (4, "月保障标准（元）")]


def test_death_register() -> None:
    person = _id("44010319550101123")
    text = f"身份证号,姓名,死亡日期\n{person},张三,2024-03-05\n{_id('44010320200101123')},李四,2019-01-01\n{person},张三,2024/3/6\n"
    result = parse_death_register(text.encode(), today=TODAY)
    assert [(r.line_no, r.date_of_death) for r in result.rows] == [(2, dt.date(2024, 3, 5))]
    assert [(i.line, i.column) for i in result.issues] == [(3, "死亡日期"), (4, "身份证号")]


def test_payroll_register() -> None:
    text = f"公民身份号码,姓名,工作单位\n{_id('44010319800101123')},王五,荔湾区财政局\n123,赵六,\n"
    result = parse_payroll(text.encode("utf-8-sig"), today=TODAY)
    assert [r.employer for r in result.rows] == ["荔湾区财政局"]
    assert {(i.line, i.column) for i in result.issues} == {(3, "公民身份号码"), (3, "工作单位")}


def test_staff_relative_register() -> None:
    staff, relative = _id("44010319700101123"), _id("44010319450101123")
    text = (
        "工作人员身份证号,工作人员姓名,亲属身份证号,亲属姓名,关系,是否备案,备案日期\n"
        f"{staff},王五,{relative},王大,父子,是,2023-05-01\n"
        f"{staff},王五,{_id('44010319480101123')},李二,母子,否,\n"
        f"{staff},王五,{relative},王大,父子,也许,\n"
    )
    result = parse_staff_relatives(text.encode(), today=TODAY)
    assert [(r.relation, r.filed, r.filing_date) for r in result.rows] == [
        ("父子", True, dt.date(2023, 5, 1)),
        ("母子", False, None),
    ]
    assert {(i.line, i.column, i.severity) for i in result.issues} == {
        (4, "是否备案", "error"),
        (4, "亲属身份证号", "error"),
    }
