from __future__ import annotations

import pytest

from reconciliation.reasons import REASONS, classify, load_tables, result_outcome


@pytest.mark.parametrize(
    "code,text,reason",
    [
        ("AC01", None, "account_invalid"),
        ("ac03", None, "account_invalid"),
        ("AC04", None, "account_closed"),
        ("AC07", None, "account_closed"),
        ("AC06", None, "account_blocked"),
        ("BE01", None, "name_mismatch"),
        ("BE16", None, "id_mismatch"),
        ("MD07", None, "beneficiary_deceased"),
        ("AM02", None, "limit"),
        ("AM14", None, "limit"),
        ("RC03", None, "routing"),
        ("AM05", None, "duplicate"),
        ("DU03", None, "duplicate"),
        ("FF07", None, "format"),
        ("NARR", None, "unspecified"),
        ("NARR", "账号不存在", "account_invalid"),
        ("AC01", "户名不符", "account_invalid"),  # a known code wins over the text
        (None, "账号错误", "account_invalid"),
        (None, "户名或卡号有误", "account_invalid"),
        (None, "查无此户", "account_invalid"),
        (None, "账户已销户", "account_closed"),
        (None, "账户冻结", "account_blocked"),
        (None, "止付", "account_blocked"),
        (None, "挂失", "account_blocked"),
        (None, "卡片作废", "account_blocked"),
        (None, "账户状态异常", "account_blocked"),
        (None, "户名不符", "name_mismatch"),
        (None, "证件号不符", "id_mismatch"),
        (None, "户名与证件号码不符", "id_mismatch"),
        (None, "持卡人已死亡", "beneficiary_deceased"),
        (None, "超限额", "limit"),
        (None, "账 号 不 存 在", "account_invalid"),
        (None, "ＡＣ０４", "account_closed"),
        (None, "系统繁忙", "unspecified"),
        (None, None, "unspecified"),
        ("XX99", "", "unspecified"),
    ],
)
def test_classify(code, text, reason):
    assert classify(code, text) == reason


def test_every_configured_reason_is_canonical():
    t = load_tables()
    assert set(t.iso.values()) <= set(REASONS)
    assert {r for _, r in t.phrases} <= set(REASONS)


@pytest.mark.parametrize(
    "text,outcome",
    [
        ("成功", "paid"),
        ("已成功", "paid"),
        ("交易成功", "paid"),
        ("失败", "failed"),
        ("退票", "failed"),
        ("", "unknown"),
        (None, "unknown"),
        ("处理中", "unknown"),
        ("不成功?", "unknown"),
    ],
)
def test_result_outcome(text, outcome):
    assert result_outcome(text) == outcome
