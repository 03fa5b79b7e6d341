"""Pure writers that play the bank: CSV return files, pain.002 and camt.054 returns.

Used by the demo and the tests. Nothing here touches the database.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from lxml import etree

from reconciliation.parsers.columns import ColumnMap, default_column_map
from reconciliation.parsers.normalise import format_fen

PAIN002_NS = "urn:iso:std:iso:20022:tech:xsd:pain.002.001.10"
CAMT054_NS = "urn:iso:std:iso:20022:tech:xsd:camt.054.001.08"
_EPOCH = dt.datetime(2024, 1, 1, 9, 0, 0)


@dataclass(frozen=True, slots=True)
class SimLine:
    """One payout line as the simulated bank reports it."""

    seq: int | None
    reference: str | None
    account: str
    name: str
    amount_fen: int
    outcome: Literal["paid", "failed"]
    reason_text: str | None = None
    reason_code: str | None = None  # ISO code for pain.002/camt.054 (e.g. 'AC01')


# --- CSV -----------------------------------------------------------------------------------


def write_csv_return(
    lines: Iterable[SimLine],
    *,
    encoding: str = "gbk",
    title: str | None = "XX银行代发回盘文件",
    columns: ColumnMap | None = None,
    trailer: bool = True,
    bom: bool = False,
) -> bytes:
    """A 回盘 CSV: optional title row, header, one row per line, and a 合计 trailer
    ('合计,N笔,"1,234.50"'). Amounts carry thousands separators."""
    cols = columns or default_column_map()
    delimiter = cols.delimiter or ","
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    if title:
        writer.writerow([title])
    writer.writerow(
        [
            cols.seq[0],
            cols.account[0],
            cols.name[0],
            cols.amount[0],
            cols.reference[0],
            cols.result[0],
            cols.reason[0],
        ]
    )
    count = 0
    total = 0
    for line in lines:
        count += 1
        total += line.amount_fen
        writer.writerow(
            [
                "" if line.seq is None else str(line.seq),
                line.account,
                line.name,
                format_fen(line.amount_fen),
                line.reference or "",
                "成功" if line.outcome == "paid" else "失败",
                (line.reason_text or "") if line.outcome == "failed" else "",
            ]
        )
    if trailer:
        writer.writerow(["合计", f"{count}笔", format_fen(total)])
    data = out.getvalue().encode(encoding)
    return (b"\xef\xbb\xbf" + data) if bom and encoding.lower().replace("-", "") == "utf8" else data


# --- XML helpers ---------------------------------------------------------------------------


def _sub(parent: etree._Element, ns: str, tag: str, text: str | None = None) -> etree._Element:
    el = etree.SubElement(parent, f"{{{ns}}}{tag}")
    if text is not None:
        el.text = text
    return el


def _path(parent: etree._Element, ns: str, path: str, text: str | None = None) -> etree._Element:
    el = parent
    names = path.split("/")
    for name in names[:-1]:
        el = _sub(el, ns, name)
    return _sub(el, ns, names[-1], text)


def _amount(parent: etree._Element, ns: str, tag: str, fen: int) -> None:
    el = _sub(parent, ns, tag, format_fen(fen, thousands=False))
    el.set("Ccy", "CNY")


def _serialise(root: etree._Element) -> bytes:
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def _text(value: str, limit: int) -> str:
    return value[:limit]


# --- pain.002 ------------------------------------------------------------------------------


def _auto_group_status(lines: Sequence[SimLine]) -> str:
    failed = sum(1 for x in lines if x.outcome == "failed")
    if failed == 0:
        return "ACSC"
    return "RJCT" if failed == len(lines) else "PART"


def write_pain002(
    original_message_id: str,
    lines: Iterable[SimLine],
    *,
    only_rejected: bool = True,
    group_status: str | None = None,
    message_id: str | None = None,
    pmt_inf_id: str | None = None,
    created: dt.datetime | None = None,
) -> bytes:
    """A pain.002.001.10 status report on one payment block of ``original_message_id``.

    ``group_status`` None picks ACSC (all paid), RJCT (all failed) or PART. With
    ``only_rejected`` only failed lines are listed (the usual bank practice); otherwise paid
    lines are listed with ACSC too.
    """
    ns = PAIN002_NS
    items = list(lines)
    status = group_status or _auto_group_status(items)
    root = etree.Element(f"{{{ns}}}Document", nsmap={None: ns})
    rpt = _sub(root, ns, "CstmrPmtStsRpt")
    hdr = _sub(rpt, ns, "GrpHdr")
    _sub(hdr, ns, "MsgId", _text(message_id or f"STS-{original_message_id}", 35))
    _sub(hdr, ns, "CreDtTm", (created or _EPOCH).isoformat(timespec="seconds"))
    grp = _sub(rpt, ns, "OrgnlGrpInfAndSts")
    _sub(grp, ns, "OrgnlMsgId", _text(original_message_id, 35))
    _sub(grp, ns, "OrgnlMsgNmId", "pain.001.001.09")
    _sub(grp, ns, "OrgnlNbOfTxs", str(len(items)))
    _sub(grp, ns, "OrgnlCtrlSum", format_fen(sum(x.amount_fen for x in items), thousands=False))
    _sub(grp, ns, "GrpSts", status)
    listed = [x for x in items if x.outcome == "failed" or not only_rejected]
    if listed:
        pmt = _sub(rpt, ns, "OrgnlPmtInfAndSts")
        _sub(pmt, ns, "OrgnlPmtInfId", _text(pmt_inf_id or original_message_id, 35))
        for line in listed:
            tx = _sub(pmt, ns, "TxInfAndSts")
            if line.reference:
                _sub(tx, ns, "OrgnlInstrId", _text(line.reference, 35))
            _sub(tx, ns, "OrgnlEndToEndId", _text(line.reference or "NOTPROVIDED", 35))
            _sub(tx, ns, "TxSts", "RJCT" if line.outcome == "failed" else "ACSC")
            if line.outcome == "failed":
                info = _sub(tx, ns, "StsRsnInf")
                _path(info, ns, "Rsn/Cd", line.reason_code or "NARR")
                if line.reason_text:
                    _sub(info, ns, "AddtlInf", _text(line.reason_text, 105))
            ref = _sub(tx, ns, "OrgnlTxRef")
            amt = _sub(ref, ns, "Amt")
            _amount(amt, ns, "InstdAmt", line.amount_fen)
            cdtr = _sub(ref, ns, "Cdtr")
            _path(cdtr, ns, "Pty/Nm", _text(line.name, 140))
            acct = _sub(ref, ns, "CdtrAcct")
            _path(acct, ns, "Id/Othr/Id", _text(line.account, 34))
    return _serialise(root)


# --- camt.054 ------------------------------------------------------------------------------


def write_camt054_returns(
    account_id: str,
    lines_returned: Iterable[SimLine],
    booking_date: dt.date,
    *,
    message_id: str | None = None,
    created: dt.datetime | None = None,
) -> bytes:
    """A camt.054.001.08 notification: one CRDT entry per returned payout, each with its
    return information (RtrInf reason code and text) and our reference as EndToEndId."""
    ns = CAMT054_NS
    items = list(lines_returned)
    stamp = (created or _EPOCH).isoformat(timespec="seconds")
    root = etree.Element(f"{{{ns}}}Document", nsmap={None: ns})
    msg = _sub(root, ns, "BkToCstmrDbtCdtNtfctn")
    hdr = _sub(msg, ns, "GrpHdr")
    msg_id = _text(message_id or f"RTN-{account_id}-{booking_date:%Y%m%d}", 35)
    _sub(hdr, ns, "MsgId", msg_id)
    _sub(hdr, ns, "CreDtTm", stamp)
    ntf = _sub(msg, ns, "Ntfctn")
    _sub(ntf, ns, "Id", msg_id)
    _sub(ntf, ns, "CreDtTm", stamp)
    acct = _sub(ntf, ns, "Acct")
    _path(acct, ns, "Id/Othr/Id", _text(account_id, 34))
    for n, line in enumerate(items, start=1):
        ntry = _sub(ntf, ns, "Ntry")
        _sub(ntry, ns, "NtryRef", str(n))
        _amount(ntry, ns, "Amt", line.amount_fen)
        _sub(ntry, ns, "CdtDbtInd", "CRDT")
        _path(ntry, ns, "Sts/Cd", "BOOK")
        _path(ntry, ns, "BookgDt/Dt", booking_date.isoformat())
        _path(ntry, ns, "ValDt/Dt", booking_date.isoformat())
        _bank_tx_code(ntry, ns)
        tx = _path(ntry, ns, "NtryDtls/TxDtls")
        refs = _sub(tx, ns, "Refs")
        if line.reference:
            _sub(refs, ns, "InstrId", _text(line.reference, 35))
        _sub(refs, ns, "EndToEndId", _text(line.reference or "NOTPROVIDED", 35))
        _amount(tx, ns, "Amt", line.amount_fen)
        _sub(tx, ns, "CdtDbtInd", "CRDT")
        parties = _sub(tx, ns, "RltdPties")
        dbtr = _sub(parties, ns, "Dbtr")
        _path(dbtr, ns, "Pty/Nm", _text(line.name, 140))
        dacct = _sub(parties, ns, "DbtrAcct")
        _path(dacct, ns, "Id/Othr/Id", _text(line.account, 34))
        rtr = _sub(tx, ns, "RtrInf")
        _path(rtr, ns, "Rsn/Cd", line.reason_code or "NARR")
        if line.reason_text:
            _sub(rtr, ns, "AddtlInf", _text(line.reason_text, 105))
    return _serialise(root)


def _bank_tx_code(ntry: etree._Element, ns: str) -> None:
    code = _sub(ntry, ns, "BkTxCd")
    domn = _sub(code, ns, "Domn")
    _sub(domn, ns, "Cd", "PMNT")
    fmly = _sub(domn, ns, "Fmly")
    _sub(fmly, ns, "Cd", "ICDT")
    _sub(fmly, ns, "SubFmlyCd", "RRTN")
