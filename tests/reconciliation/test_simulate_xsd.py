"""Simulated bank messages validate against the official schemas and parse back."""

from __future__ import annotations

import datetime as dt
from functools import cache

from lxml import etree

from reconciliation.parsers import parse_return_file, unlisted_outcome, unlisted_status
from reconciliation.simulate import SimLine, write_camt054_returns, write_pain002

from .conftest import XSD

LINES = [
    SimLine(1, "P24030100001", "6222021001000000001", "张三", 120000, "paid"),
    SimLine(
        2, "P24030100002", "6222021001000000002", "欧阳·娜娜", 98050, "failed", "账号不存在", "AC01"
    ),
    SimLine(3, "P24030100003", "6222021001000000003", "李四", 5000, "failed", "户名不符", None),
]


@cache
def schema(name: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(XSD / f"{name}.xsd")))


def assert_valid(data: bytes, name: str) -> None:
    s = schema(name)
    assert s.validate(etree.fromstring(data)), s.error_log


def test_pain002_validates_and_parses_back():
    data = write_pain002("BATCH-202403-01", LINES)
    assert_valid(data, "pain.002.001.10")
    parsed = parse_return_file(data)
    s = parsed.summary
    assert (s.kind, s.group_status, s.original_message_id) == (
        "pain.002",
        "PART",
        "BATCH-202403-01",
    )
    assert (s.declared_count, s.declared_total_fen) == (3, 223050)
    lines = list(parsed.lines())
    assert [(x.reference, x.outcome, x.reason, x.amount_fen) for x in lines] == [
        ("P24030100002", "failed", "account_invalid", 98050),
        ("P24030100003", "failed", "name_mismatch", 5000),
    ]
    assert lines[0].name == "欧阳娜娜" and lines[0].currency == "CNY"
    assert unlisted_outcome(unlisted_status(s, lines[0].batch_ref)) == "accepted"


def test_pain002_listing_every_line_validates():
    data = write_pain002("B2", LINES, only_rejected=False, group_status="ACCP")
    assert_valid(data, "pain.002.001.10")
    lines = list(parse_return_file(data).lines())
    assert [x.outcome for x in lines] == ["paid", "failed", "failed"]


def test_pain002_all_rejected_and_empty():
    failed = [x for x in LINES if x.outcome == "failed"]
    assert_valid(write_pain002("B3", failed), "pain.002.001.10")
    assert parse_return_file(write_pain002("B3", failed)).summary.group_status == "RJCT"
    data = write_pain002("B4", LINES[:1])
    assert_valid(data, "pain.002.001.10")
    assert parse_return_file(data).summary.group_status == "ACSC"


def test_camt054_returns_validate_and_parse_back():
    data = write_camt054_returns("44010300000001", LINES[1:], dt.date(2024, 3, 8))
    assert_valid(data, "camt.054.001.08")
    parsed = parse_return_file(data)
    assert parsed.summary.kind == "camt.054"
    lines = list(parsed.lines())
    assert [(x.reference, x.outcome, x.reason, x.raw_code, x.amount_fen) for x in lines] == [
        ("P24030100002", "returned", "account_invalid", "AC01", 98050),
        ("P24030100003", "returned", "name_mismatch", "NARR", 5000),
    ]
    assert lines[0].account == "6222021001000000002" and lines[1].name == "李四"
