"""One encoding policy for every text file we take: a roster file and a bank return file with
the same bytes are read with the same encoding, or refused at the same line for the same reason."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.filebytes import BOM, ByteSource, NotText, text_encoding
from ledger.limits import parse_limits
from ledger.roster.tabular import _decode, _records
from reconciliation.parsers.csv_return import sniff_encoding
from reconciliation.parsers.model import FileRejected

texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


@given(
    text=texts,
    encoding=st.sampled_from(["utf-8", "gb18030", "utf-16-le"]),
    bom=st.booleans(),
    noise=st.binary(max_size=4),
)
def test_roster_and_bank_files_decide_alike(
    text: str, encoding: str, bom: bool, noise: bytes
) -> None:
    try:
        data = (BOM if bom else b"") + text.encode(encoding) + noise
    except UnicodeEncodeError:
        return
    try:
        decided = text_encoding(ByteSource.of(data))
    except NotText as refused:
        with pytest.raises(NotText) as roster:
            _decode(data)
        with pytest.raises(FileRejected) as bank:
            sniff_encoding(ByteSource.of(data))
        assert (roster.value.line, roster.value.reason) == (refused.line, refused.reason)
        assert (bank.value.line, bank.value.reason) == (refused.line, refused.reason)
        return
    assert sniff_encoding(ByteSource.of(data)) == decided
    assert _decode(data) == data[decided[1] :].decode(decided[0])


def test_a_roster_file_with_nul_bytes_is_refused_naming_its_line() -> None:
    data = "姓名,身份证号\n张三,1\n".encode() + "Li,2".encode("utf-16-le") + b"\n"
    records, issues = _records(data, parse_limits())
    assert records == []
    assert [(i.line, i.reason) for i in issues] == [
        (3, "contains NUL bytes: not a text file (UTF-16?)")
    ]


def test_a_roster_file_with_a_bom_and_gbk_text_is_read_as_gb18030() -> None:
    data = BOM + "姓名,身份证号\n张三,1\n".encode("gbk")
    records, issues = _records(data, parse_limits())
    assert issues == [] and records[1] == (2, ["张三", "1"])
