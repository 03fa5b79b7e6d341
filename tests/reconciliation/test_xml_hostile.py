"""Hostile and broken XML is refused, never expanded, never fetched."""

from __future__ import annotations

import pytest

from reconciliation.parsers import FileRejected, detect_kind, parse_return_file

from .conftest import SAMPLES

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<Document><CstmrPmtStsRpt><GrpHdr><MsgId>&lol4;</MsgId></GrpHdr></CstmrPmtStsRpt></Document>
"""

EXTERNAL = b"""<?xml version="1.0"?>
<!DOCTYPE Document [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Document><CstmrPmtStsRpt><GrpHdr><MsgId>&xxe;</MsgId></GrpHdr></CstmrPmtStsRpt></Document>
"""


@pytest.mark.parametrize("data", [BILLION_LAUGHS, EXTERNAL], ids=["billion-laughs", "xxe"])
def test_entities_are_refused(data):
    for fn in (detect_kind, parse_return_file):
        with pytest.raises(FileRejected) as err:
            fn(data)
        assert err.value.reason == "DTD or entity declarations are not allowed"


def test_entities_in_utf16_are_refused():
    with pytest.raises(FileRejected) as err:
        parse_return_file(EXTERNAL.decode().replace('<?xml version="1.0"?>', "").encode("utf-16"))
    assert "DTD" in err.value.reason


def test_truncated_xml_is_refused_with_its_line():
    data = (
        SAMPLES / "pain.002" / "nordea_pain.002.001.03_pmtinf-RJCT_2tx-RJCT-NARR.xml"
    ).read_bytes()
    cut = data[: len(data) * 2 // 3]
    with pytest.raises(FileRejected) as err:
        parse_return_file(cut)
    assert err.value.line is not None and err.value.line > 1
    assert "XML" in err.value.reason


def test_bad_amount_in_xml_names_its_line():
    data = (SAMPLES / "camt.054" / "postfinance_camt.054.001.04_debit-1ntry-3tx.xml").read_bytes()
    bad = data.replace(b">250.00<", b">250.001<", 1)
    assert bad != data
    with pytest.raises(FileRejected) as err:
        parse_return_file(bad)
    assert err.value.line is not None and err.value.field


def test_other_xml_messages_are_not_return_files():
    with pytest.raises(FileRejected):
        detect_kind(b'<Document xmlns="urn:x"><CstmrCdtTrfInitn/></Document>')


def test_kind_by_local_name_with_any_or_no_namespace():
    assert detect_kind(b"<Document><BkToCstmrStmt/></Document>") == "camt.053"
    assert (
        detect_kind(b'<d:Document xmlns:d="urn:bank"><d:BkToCstmrDbtCdtNtfctn/></d:Document>')
        == "camt.054"
    )
    assert detect_kind(b"\xef\xbb\xbf  <CstmrPmtStsRpt/>") == "pain.002"
