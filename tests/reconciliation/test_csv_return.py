"""CSV return files (回盘) as banks really send them."""

from __future__ import annotations

import pytest

from reconciliation.parsers import (
    ColumnMap,
    FileRejected,
    check_totals,
    load_column_map,
    parse_return_file,
)

HEADER = "序号,收款账号,收款户名,金额,备注,处理结果,失败原因"
ROWS = [
    "1,6222021001000000001,张三,1200.00,P00000000001,成功,",
    "2,6222021001000000002,李四,1200.00,P00000000002,失败,账号不存在",
    '3,6222021001000000003,欧阳·娜娜,"1,200.00",P00000000003,已冻结,',
]


def build(*rows: str, title: str | None = "XX银行代发回盘文件", trailer: str | None = None) -> str:
    parts = ([title] if title else []) + [HEADER, *rows]
    if trailer:
        parts.append(trailer)
    return "\r\n".join(parts) + "\r\n"


def parse_all(data: bytes, **kw):
    parsed = parse_return_file(data, **kw)
    lines = list(parsed.lines())
    check_totals(parsed)
    return parsed.summary, lines


GOOD = build(*ROWS, trailer='合计,3笔,"3,600.00"')


@pytest.mark.parametrize(
    "data",
    [GOOD.encode("utf-8"), b"\xef\xbb\xbf" + GOOD.encode("utf-8"), GOOD.encode("gbk")],
    ids=["utf8", "utf8-bom", "gbk"],
)
def test_encodings(data):
    s, lines = parse_all(data)
    assert s.kind == "csv_return" and s.currency == "CNY"
    assert (s.declared_count, s.declared_total_fen, s.counted, s.counted_total_fen) == (
        3,
        360000,
        3,
        360000,
    )
    assert s.title == "XX银行代发回盘文件"
    assert [x.line_no for x in lines] == [3, 4, 5]
    assert [x.outcome for x in lines] == ["paid", "failed", "unknown"]
    assert lines[1].reason == "account_invalid" and lines[1].raw_text == "账号不存在"
    assert lines[1].raw_code is None
    assert lines[0].reason is None
    assert lines[2].name == "欧阳娜娜"
    assert lines[0].reference == "P00000000001" and lines[0].seq == 1


def test_blank_lines_full_width_and_thousands():
    text = (
        "\r\n\r\nＸＸ银行代发回盘\r\n\r\n"
        "序号,收款账号,收款户名,金额,备注,处理结果,失败原因\r\n"
        "\r\n"
        '１,６２２２ ０２１０ ０１,王　五,"１，２３４．５０",Ｐ０００１,交易成功,\r\n'
        ",,,,,,\r\n"
        '2,6222021002,赵六,"12,345,678.90",P0002,退票,户名不符\r\n'
        "\r\n"
        "合计：笔数 2 金额 12,346,913.40\r\n"
        "制表人：张三\r\n"
    )
    s, lines = parse_all(text.encode("gbk"))
    assert [x.line_no for x in lines] == [7, 9]
    first, second = lines
    assert (first.seq, first.account, first.name, first.amount_fen, first.reference) == (
        1,
        "6222021001",
        "王五",
        123450,
        "P0001",
    )
    assert first.outcome == "paid"
    assert (second.amount_fen, second.outcome, second.reason) == (
        1234567890,
        "failed",
        "name_mismatch",
    )
    assert s.trailer_line == 11
    assert (s.declared_count, s.declared_total_fen) == (2, 1234691340)


@pytest.mark.parametrize(
    "trailer,count,total",
    [
        ('合计,3笔,"3,600.00"', 3, 360000),
        ("合计：笔数 3 金额 3,600.00", 3, 360000),
        ("合计,3,3600.00", 3, 360000),
        ("合计,,,3600.00,,,", None, 360000),
        ("总计 共3笔 合计金额 3600.00元", 3, 360000),
    ],
)
def test_trailer_forms(trailer, count, total):
    s, _ = parse_all(build(*ROWS, trailer=trailer).encode("utf-8"))
    assert (s.declared_count, s.declared_total_fen) == (count, total)


def test_unknown_or_empty_result_is_never_failed():
    rows = [
        "1,62220001,甲,1.00,R1,,",
        "2,62220002,乙,1.00,R2,处理中,",
        "3,62220003,丙,1.00,R3,银行未知状态,",
    ]
    _, lines = parse_all(build(*rows).encode("utf-8"))
    assert {x.outcome for x in lines} == {"unknown"}
    assert all(x.reason is None for x in lines)


def test_totals_that_do_not_add_up_name_the_trailer():
    data = build(*ROWS, trailer='合计,3笔,"3,500.00"').encode("utf-8")
    parsed = parse_return_file(data)
    list(parsed.lines())
    with pytest.raises(FileRejected) as err:
        check_totals(parsed)
    assert err.value.line == 6 and err.value.field == "合计"
    assert "3,500.00" in err.value.reason and "3,600.00" in err.value.reason


def test_count_that_does_not_add_up():
    data = build(*ROWS, trailer='合计,4笔,"3,600.00"').encode("utf-8")
    parsed = parse_return_file(data)
    with pytest.raises(FileRejected) as err:
        check_totals(parsed)
    assert err.value.line == 6 and "4" in err.value.reason


def test_truncated_file_fails_its_totals():
    data = build(*ROWS, trailer='合计,3笔,"3,600.00"').encode("utf-8")
    cut = data[: data.index(b"3,6222021001000000003")]
    parsed = parse_return_file(cut)
    assert parsed.summary.declared_count is None  # the trailer never arrived
    # a truncated row in the middle of a quoted amount is refused outright
    with pytest.raises(FileRejected) as err:
        parse_return_file(data[: data.index(b'"1,200') + 3])
    assert err.value.line == 5


def test_file_without_trailer_has_no_declared_totals():
    data = build(*ROWS[:2]).encode("utf-8")
    parsed = parse_return_file(data)
    assert parsed.summary.trailer_line is None and parsed.summary.counted == 2


def test_wrong_encoding_is_refused():
    data = GOOD.encode("utf-8")
    bad = data.replace("李四".encode(), b"\xff\xfe\xff")
    with pytest.raises(FileRejected) as err:
        parse_return_file(bad)
    assert err.value.line == 4 and err.value.field == "encoding"
    with pytest.raises(FileRejected):
        parse_return_file(GOOD.encode("utf-16"))


def test_three_decimal_amount_is_refused():
    rows = [ROWS[0], "2,6222021001000000002,李四,1200.005,P00000000002,成功,"]
    with pytest.raises(FileRejected) as err:
        parse_return_file(build(*rows).encode("utf-8"))
    assert (err.value.line, err.value.field) == (4, "金额")
    # trailing zeros beyond two decimals are fine
    _, lines = parse_all(build("1,62220001,甲,5.0400,R1,成功,").encode("utf-8"))
    assert lines[0].amount_fen == 504


@pytest.mark.parametrize("amount", ["abc", "1,23.00", "-5.00", ""])
def test_bad_amounts(amount):
    with pytest.raises(FileRejected) as err:
        parse_return_file(build(f'1,62220001,甲,"{amount}",R1,成功,').encode("utf-8"))
    assert (err.value.line, err.value.field) == (3, "金额")


def test_unmatchable_line_is_refused():
    with pytest.raises(FileRejected) as err:
        parse_return_file(build(",,甲,1.00,,成功,").encode("utf-8"))
    assert err.value.line == 3 and err.value.field == "备注"


def test_no_header_is_refused():
    with pytest.raises(FileRejected) as err:
        parse_return_file(b"a,b,c\r\n1,2,3\r\n")
    assert "header" in str(err.value)


def test_data_after_trailer_is_refused():
    data = build(*ROWS[:1], trailer="合计,1笔,1200.00").encode() + ROWS[1].encode() + b"\r\n"
    with pytest.raises(FileRejected) as err:
        parse_return_file(data)
    assert err.value.line == 5


def test_bank_specific_columns_and_tabs():
    columns = ColumnMap(
        seq=("顺序号",),
        account=("卡号",),
        name=("姓名",),
        amount=("交易金额",),
        reference=("附言",),
        result=("交易状态",),
        reason=("错误信息",),
    )
    text = (
        "交易状态\t卡号\t姓名\t交易金额\t附言\t错误信息\t顺序号\r\n"
        "失败\t62220001\t甲\t10.00\tR1\t账户已冻结\t1\r\n"
    )
    _, lines = parse_all(text.encode("gbk"), column_map=columns)
    (line,) = lines
    assert (line.seq, line.account, line.outcome, line.reason) == (
        1,
        "62220001",
        "failed",
        "account_blocked",
    )


def test_default_column_map_accepts_alternatives():
    cm = load_column_map("999")  # an unknown bank falls back to the default
    assert "卡号" in cm.account and "收款账号" in cm.account
    text = "账号,户名,金额,备注,交易结果,失败原因\r\n62220001,甲,10.00,R1,成功,\r\n"
    _, lines = parse_all(text.encode("utf-8"), column_map=cm)
    assert lines[0].account == "62220001" and lines[0].outcome == "paid"
