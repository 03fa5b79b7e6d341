"""Every public ISO 20022 sample parses, with its statuses, reasons and amounts."""

from __future__ import annotations

import datetime as dt

import pytest

from reconciliation.parsers import (
    check_totals,
    detect_kind,
    parse_return_file,
    unlisted_outcome,
    unlisted_status,
)

from .conftest import SAMPLES

ALL = sorted(SAMPLES.glob("*/*.xml"))


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_every_sample_parses(path):
    data = path.read_bytes()
    assert detect_kind(data) == path.parent.name
    parsed = parse_return_file(data)
    lines = list(parsed.lines())
    assert parsed.summary.counted == len(lines)
    assert parsed.summary.counted_total_fen == sum(x.amount_fen or 0 for x in lines)
    check_totals(parsed)


def test_sample_set_is_complete():
    assert len(ALL) == 18


def parse(sample, kind, name):
    parsed = parse_return_file(sample(kind, name))
    return parsed.summary, list(parsed.lines())


def test_postfinance_part_lists_only_the_rejected_line(sample):
    s, lines = parse(
        sample, "pain.002", "postfinance_pain.002.001.03.ch.02_pmtinf-PART_tx-RJCT-AC01.xml"
    )
    assert s.kind == "pain.002"
    assert s.original_message_id == "MsgId-001"
    assert s.group_status is None
    assert [(i.pmt_inf_id, i.status, i.listed) for i in s.payment_infos] == [
        ("PmtInfId-001-03", "PART", 1)
    ]
    assert len(lines) == 1
    (line,) = lines
    assert line.outcome == "failed"
    assert (line.raw_code, line.reason) == ("AC01", "account_invalid")
    assert line.raw_text == "1301813;Konto ungültig"
    assert line.reference == "EndToEndId-001-03-04"
    assert line.batch_ref == "PmtInfId-001-03"
    assert line.amount_fen is None
    # the other lines of the block were accepted; the caller decides what that means
    assert unlisted_outcome(unlisted_status(s, "PmtInfId-001-03")) == "accepted"


def test_postfinance_group_accepted(sample):
    s, lines = parse(sample, "pain.002", "postfinance_pain.002.001.03.ch.02_grp-ACTC.xml")
    assert (s.group_status, s.original_message_id, lines) == ("ACTC", "MsgId-001", [])
    assert unlisted_outcome(s.group_status) == "accepted"


def test_postfinance_group_rejected_am10(sample):
    s, lines = parse(sample, "pain.002", "postfinance_pain.002.001.03.ch.02_grp-RJCT-AM10.xml")
    assert s.group_status == "RJCT" and lines == []
    assert s.group_raw_code == "AM10"
    assert s.group_raw_text == "904114;ControlSum fehlerhaft"
    assert s.group_reason == "unspecified"
    assert unlisted_outcome(unlisted_status(s, None)) == "failed"


def test_postfinance_block_rejected_narr(sample):
    s, lines = parse(
        sample, "pain.002", "postfinance_pain.002.001.03.ch.02_pmtinf-RJCT-NARR_tx-RJCT-AC01.xml"
    )
    (info,) = s.payment_infos
    assert (info.status, info.raw_code) == ("RJCT", "NARR")
    assert "Sammelauftrag" in (info.raw_text or "")
    assert [(x.outcome, x.reason) for x in lines] == [("failed", "account_invalid")]


def test_nordea_duplicate_file(sample):
    s, lines = parse(sample, "pain.002", "nordea_pain.002.001.03_grp-RJCT-DU01.xml")
    assert (s.group_status, s.group_raw_code, s.group_reason) == ("RJCT", "DU01", "duplicate")
    assert s.group_raw_text == "ISO Duplicate Message ID"
    assert lines == []


def test_nordea_two_narr_rejections_share_their_block(sample):
    _s, lines = parse(sample, "pain.002", "nordea_pain.002.001.03_pmtinf-RJCT_2tx-RJCT-NARR.xml")
    assert [x.reference for x in lines] == [
        "ENDTOENDID-950-TEST2-2807-02",
        "ENDTOENDID-950-TEST2-2807-01",
    ]
    assert {x.batch_ref for x in lines} == {"PMTINFID-950-TEST2-2807-01"}
    assert all(x.outcome == "failed" and x.reason == "unspecified" for x in lines)
    assert all(x.raw_code == "NARR" and x.raw_text and "CAP" in x.raw_text for x in lines)


def test_crossriver_without_namespace(sample):
    s, lines = parse(
        sample, "pain.002", "crossriver_pain.002.001.03_NO-NAMESPACE_grp-ACTC_3tx-RJCT-NARR.xml"
    )
    assert s.group_status == "ACTC"
    assert (s.declared_count, s.declared_total_fen) == (3, 504)  # OrgnlCtrlSum 5.0400
    assert s.payment_infos[0].status == "RJCT"
    # the block's own status wins over the group's for unlisted lines
    assert unlisted_outcome(unlisted_status(s, "missing2")) == "failed"
    assert [x.outcome for x in lines] == ["failed"] * 3
    assert lines[2].raw_text == "Instruction ID example012345678 already exist"


def test_goldman_accepted_is_not_paid(sample):
    s, lines = parse(
        sample, "pain.002", "goldmansachs_pain.002.001.03_tx-ACCP_INVALID-no-OrgnlMsgNmId.xml"
    )
    (line,) = lines
    assert line.outcome == "unknown" and line.reason is None
    assert (line.amount_fen, line.currency) == (1000, "USD")
    assert (s.declared_count, s.declared_total_fen) == (2, 2000)


def test_pain002_v10_direct_debit(sample):
    _s, lines = parse(sample, "pain.002", "unattributed-de_pain.002.001.10_tx-RJCT-AC01.xml")
    (line,) = lines
    assert (line.outcome, line.reason, line.raw_code) == ("failed", "account_invalid", "AC01")
    assert (line.amount_fen, line.currency) == (654314, "EUR")
    assert line.reference == "OriginatorID1234"
    assert line.batch_ref == "Sammlerreferenz-4710"


def test_camt054_return_rrtn_ac01(sample):
    _s, lines = parse(sample, "camt.054", "postfinance_camt.054.001.04_return-RRTN-AC01.xml")
    assert b"<RvslInd>true</RvslInd>" in sample(
        "camt.054", "postfinance_camt.054.001.04_return-RRTN-AC01.xml"
    )
    (line,) = lines
    assert line.outcome == "returned"
    assert (line.raw_code, line.reason, line.raw_text) == (
        "AC01",
        "account_invalid",
        "Kontonummer falsch",
    )
    assert (line.reference, line.batch_ref) == ("EndToEndId-001-03-04", "PmtInfId-001-03")
    assert (line.amount_fen, line.currency) == (50000, "CHF")


def test_camt054_debit_batch_is_paid(sample):
    s, lines = parse(sample, "camt.054", "postfinance_camt.054.001.04_debit-1ntry-3tx.xml")
    assert [(x.reference, x.amount_fen, x.outcome) for x in lines] == [
        ("EndToEndId-001-02-01", 20000, "paid"),
        ("EndToEndId-001-02-02", 25000, "paid"),
        ("EndToEndId-001-02-03", 30000, "paid"),
    ]
    assert s.counted_total_fen == 75000


def test_camt054_incoming_credits_are_not_outcomes(sample):
    s, lines = parse(sample, "camt.054", "postfinance_camt.054.001.08_credit-btch-2tx.xml")
    assert lines == [] and s.currency == "CHF"


def test_fffs_camt054_last_entry_yields_returns(sample):
    _s, lines = parse(sample, "camt.054", "fffs-finland_camt.054.001.02_batches_return-AC01.xml")
    returned = [x for x in lines if x.outcome == "returned"]
    assert [(x.raw_code, x.reason, x.amount_fen) for x in returned] == [
        ("AC01", "account_invalid", 4000),
        ("CUST", "unspecified", 6000),
    ]
    assert returned[0].raw_text == "1+TILIÄ EI LÖYDY"
    paid = [x for x in lines if x.outcome == "paid"]
    assert [x.amount_fen for x in paid[:3]] == [200002, 100001, 123002]  # the SCT batch 4230.05
    assert sum(x.amount_fen or 0 for x in paid[:3]) == 423005


def test_camt053_fffs_balances(sample):
    s, _lines = parse(sample, "camt.053", "fffs-finland_camt.053.001.02_batches.xml")
    st = s.statement
    assert st is not None
    assert st.account_id == "FI7433010001222090"
    assert (st.opening_fen, st.opening_date) == (1000000, dt.date(2009, 10, 29))
    assert (st.closing_fen, st.closing_date) == (2364483, dt.date(2009, 10, 29))
    assert len(st.entries) == 10
    assert st.balances_reconcile is True
    batch_counts = [e.batch_count for e in st.entries if e.batch_count is not None]
    assert 4 in batch_counts and 3 in batch_counts
    no_details = [e for e in st.entries if e.batch_count == 3 and e.tx_count == 0]
    assert no_details, "the SCT batch booked without TxDtls"


def test_camt053_ing_batch_without_details(sample):
    s, _lines = parse(sample, "camt.053", "ing-nl_camt.053.001.02_btch-PmtInfId.xml")
    st = s.statement
    assert st is not None and st.account_id == "NL18INGB00012345678"
    assert (st.opening_fen, st.closing_fen) == (732980, 2303820)
    batch = [e for e in st.entries if e.batch_pmt_inf_id]
    assert len(batch) == 1
    assert (batch[0].amount_fen, batch[0].credit_debit, batch[0].batch_count) == (
        475374,
        "DBIT",
        3,
    )
    assert batch[0].tx_count == 0
    assert st.balances_reconcile is False  # the sample is trimmed (35 entries claimed, 3 kept)


def test_camt053_iso_mdr_whole_amounts(sample):
    s, _ = parse(sample, "camt.053", "iso-mdr-business-example_camt.053.001.04.xml")
    st = s.statement
    assert st is not None
    assert (st.opening_fen, st.closing_fen) == (50000000, 43567850)
    assert st.opening_date == dt.date(2010, 10, 15)
    assert st.balances_reconcile is True
    (batch,) = [e for e in st.entries if e.batch_count == 20]
    assert (batch.amount_fen, batch.credit_debit, batch.batch_pmt_inf_id) == (
        20000000,
        "DBIT",
        "FINP-0055/001",
    )


def test_camt053_postfinance_returns(sample):
    s, lines = parse(sample, "camt.053", "postfinance_camt.053.001.04_returns-reversals.xml")
    st = s.statement
    assert st is not None
    assert (st.opening_fen, st.closing_fen) == (32215216, 32268977)
    assert len(st.entries) == 13 and st.balances_reconcile is True
    narr = [x for x in lines if x.raw_code == "NARR"]
    assert len(narr) == 3 and all(x.outcome == "returned" for x in narr)
    assert "BEGUENSTIGTER UNBEKANNT" in (narr[0].raw_text or "")


def test_camt053_ubs_one_decimal_amounts(sample):
    s, lines = parse(sample, "camt.053", "ubs-ch_camt.053.001.08_INVALID-UETR.xml")
    st = s.statement
    assert st is not None
    assert (st.opening_fen, st.closing_fen) == (8272195, 8451525)
    assert 47440 in [e.amount_fen for e in st.entries]  # '474.4'
    assert [(x.reference, x.outcome, x.amount_fen) for x in lines] == [("1208481", "paid", 1969)]
