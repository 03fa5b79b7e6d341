"""Property tests: CSV round trip through the simulator; parsers only ever raise FileRejected."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciliation.parsers import (
    FileRejected,
    check_totals,
    normalise_account,
    normalise_name,
    parse_amount_fen,
    parse_return_file,
)
from reconciliation.reasons import classify
from reconciliation.simulate import SimLine, write_csv_return

from .conftest import SAMPLES

cjk = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5)
names = st.builds(
    lambda a, b: a + ("·" + b if b else ""),
    st.text(cjk, min_size=1, max_size=4),
    st.text(cjk, max_size=3),
)
accounts = st.builds(
    lambda parts: " ".join(parts),
    st.lists(st.text("0123456789", min_size=1, max_size=6), min_size=1, max_size=4),
)
references = st.one_of(
    st.none(),
    st.text("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", min_size=1, max_size=12),
)
sim_lines = st.builds(
    SimLine,
    seq=st.one_of(st.none(), st.integers(1, 10**6)),
    reference=references,
    account=accounts,
    name=names,
    amount_fen=st.integers(0, 10**10),
    outcome=st.sampled_from(["paid", "failed"]),
    reason_text=st.sampled_from([None, "账号不存在", "户名不符", "账户已冻结", "其他原因"]),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=st.lists(sim_lines, max_size=30), encoding=st.sampled_from(["gbk", "utf-8"]))
def test_csv_round_trip(lines, encoding):
    data = write_csv_return(lines, encoding=encoding)
    parsed = parse_return_file(data)
    got = list(parsed.lines())
    check_totals(parsed)
    assert len(got) == len(lines)
    assert parsed.summary.declared_count == len(lines)
    assert parsed.summary.declared_total_fen == sum(x.amount_fen for x in lines)
    for sim, line in zip(lines, got, strict=True):
        assert line.seq == sim.seq
        assert line.reference == sim.reference
        assert line.account == normalise_account(sim.account)
        assert line.name == normalise_name(sim.name)
        assert line.amount_fen == sim.amount_fen
        assert line.currency == "CNY"
        assert line.outcome == sim.outcome
        if sim.outcome == "failed":
            assert line.raw_text == sim.reason_text
            assert line.reason == classify(None, sim.reason_text)
        else:
            assert line.raw_text is None and line.reason is None


@given(fen=st.integers(0, 10**12))
def test_amount_format_round_trip(fen):
    yuan, cents = divmod(fen, 100)
    assert parse_amount_fen(f"{yuan:,}.{cents:02d}") == fen
    assert parse_amount_fen(f"{yuan}.{cents:02d}00") == fen


def _consume(data: bytes) -> None:
    try:
        parsed = parse_return_file(data)
        for _ in parsed.lines():
            pass
        check_totals(parsed)
    except FileRejected:
        pass


SEEDS = [
    b"",
    "序号,收款账号,收款户名,金额,备注,处理结果,失败原因\r\n".encode(),
    (
        SAMPLES / "pain.002" / "postfinance_pain.002.001.03.ch.02_pmtinf-PART_tx-RJCT-AC01.xml"
    ).read_bytes(),
    (SAMPLES / "camt.054" / "postfinance_camt.054.001.04_return-RRTN-AC01.xml").read_bytes(),
    (SAMPLES / "camt.053" / "ubs-ch_camt.053.001.08_INVALID-UETR.xml").read_bytes(),
]


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=400))
def test_arbitrary_bytes_only_raise_file_rejected(data):
    _consume(data)


@settings(max_examples=300, deadline=None)
@given(
    seed=st.sampled_from(SEEDS),
    cut=st.integers(0, 10_000),
    junk=st.binary(max_size=40),
    pos=st.integers(0, 10_000),
)
def test_mutated_files_only_raise_file_rejected(seed, cut, junk, pos):
    body = seed[: cut % (len(seed) + 1)] if seed else seed
    at = pos % (len(body) + 1)
    _consume(body[:at] + junk + body[at:])


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.lists(st.text(max_size=12), max_size=8), max_size=8))
def test_arbitrary_csv_text_only_raises_file_rejected(rows):
    import csv
    import io

    out = io.StringIO()
    csv.writer(out).writerows([["序号", "收款账号", "收款户名", "金额", "备注", "处理结果"], *rows])
    _consume(out.getvalue().encode("utf-8", "surrogatepass"))


def _amount_by_decimal(text: str) -> int:
    """The amount rule spelt out with Decimal, as a reference for the integer fast path."""
    from decimal import Decimal

    value = Decimal(text.replace(",", "")) * 100
    assert value == value.to_integral_value()
    return int(value)


@given(fen=st.integers(0, 10**14), style=st.sampled_from(["plain", "thousands", "one", "none"]))
def test_amount_fast_path_agrees_with_decimal(fen, style):
    yuan, cents = divmod(fen, 100)
    text = {
        "plain": f"{yuan}.{cents:02d}",
        "thousands": f"{yuan:,}.{cents:02d}",
        "one": f"{yuan}.{cents // 10}",
        "none": f"{yuan}",
    }[style]
    assert parse_amount_fen(text) == _amount_by_decimal(text)


# Cells as banks mangle them: full-width digits and letters, ideographic spaces, name dots.
messy = st.text(
    st.sampled_from(list("0123456789０１２３ＡＢａｂ AB张李·・\u3000\t,.，\x1fé\u0301")),
    max_size=10,
)


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.text(st.sampled_from(list("0123４５ \u3000")), max_size=4),
            messy,
            messy,
            st.integers(0, 10**9),
            messy,
            st.sampled_from(["成功", "失败", "ＯＫ", "", " 失 败 "]) | messy,
            messy,
        ),
        max_size=12,
    )
)
def test_csv_lines_equal_the_field_rules(rows):
    """Each line's fields are exactly what the public normalisation rules make of its cells."""
    import csv
    import io

    from reconciliation.parsers.normalise import clean
    from reconciliation.reasons import result_outcome

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["序号", "收款账号", "收款户名", "金额", "备注", "处理结果", "失败原因"])
    for seq, account, name, fen, ref, result, reason in rows:
        writer.writerow(
            [seq, account, name, f"{fen // 100:,}.{fen % 100:02d}", ref, result, reason]
        )
    try:
        parsed = parse_return_file(out.getvalue().encode("utf-8"))
        got = list(parsed.lines())
    except FileRejected:
        return
    assert len(got) == len(rows)
    for (seq, account, name, fen, ref, result, reason), line in zip(rows, got, strict=True):
        assert line.seq == (int(clean(seq)) if clean(seq) else None)
        assert line.account == normalise_account(clean(account))
        assert line.name == normalise_name(clean(name))
        assert line.amount_fen == fen
        assert line.reference == clean(ref)
        assert line.outcome == result_outcome(clean(result))
        assert line.raw_text == clean(reason)
        if line.outcome == "failed":
            assert line.reason == classify(None, clean(reason))


@settings(max_examples=500, deadline=None)
@given(row=st.lists(st.text(max_size=8), max_size=8))
def test_row_normalisation_equals_cell_by_cell(row):
    """One NFKC call per row gives what one call per cell gives, for any text at all."""
    from reconciliation.parsers.csv_return import _cells
    from reconciliation.parsers.normalise import nfkc

    assert _cells(row) == [nfkc(c) for c in row]


@settings(max_examples=500, deadline=None)
@given(
    text=st.text(st.sampled_from(list('ab,"\r\n\v\f\x1c\x1d\x1e\x85\u2028\u2029张 ')), max_size=30)
)
def test_lazy_line_splitting_equals_the_builtins(text):
    """The line walkers used for large files split exactly where the builtins split."""
    import io

    from reconciliation.parsers.csv_return import physical_lines, text_lines

    assert list(text_lines(text)) == text.splitlines()
    assert list(physical_lines(text)) == list(io.StringIO(text, newline=""))
