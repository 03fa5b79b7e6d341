"""ISO 20022 return files: pain.002 status reports, camt.054 notifications, camt.053 statements.

Any message version is read; elements are found by local name, never by namespace.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from ledger.filebytes import ByteSource
from reconciliation.parsers.model import (
    CreditDebit,
    FileRejected,
    FileSummary,
    Kind,
    Outcome,
    PaymentInfoStatus,
    ReturnLine,
    Statement,
    StatementEntry,
    tx_status_outcome,
)
from reconciliation.parsers.normalise import normalise_account, normalise_name, parse_amount_fen
from reconciliation.parsers.xml_safe import (
    child,
    children,
    find,
    iterparse,
    local,
    release,
    text,
)
from reconciliation.reasons import classify

MESSAGE_KINDS: dict[str, Kind] = {
    "CstmrPmtStsRpt": "pain.002",
    "BkToCstmrDbtCdtNtfctn": "camt.054",
    "BkToCstmrStmt": "camt.053",
}
DEFAULT_CURRENCY = "CNY"  # our instructions are in CNY; used when a report omits the amount
_NOT_PROVIDED = "NOTPROVIDED"


def detect_xml_kind(data: bytes | ByteSource) -> Kind:
    """The message kind from the root element or its first descendants (envelopes allowed)."""
    depth = 0
    seen: list[str] = []
    for event, el in iterparse(data):
        if event == "end":
            depth -= 1
            continue
        depth += 1
        name = local(el)
        if name in MESSAGE_KINDS and depth <= 3:
            return MESSAGE_KINDS[name]
        seen.append(name)
        if len(seen) >= 64:
            break
    raise FileRejected(
        f"not a return file: XML message {'/'.join(seen[:2]) or '(empty)'} is not "
        "pain.002, camt.054 or camt.053",
        line=1,
    )


# --- helpers -----------------------------------------------------------------------------


def _first(*elements: Any | None) -> Any | None:
    """The first element that is not None (lxml elements without children are falsy)."""
    return next((e for e in elements if e is not None), None)


def _amount(el: Any | None, field: str) -> tuple[int | None, str | None]:
    if el is None:
        return None, None
    raw = (el.text or "").strip()
    try:
        fen = parse_amount_fen(raw)
    except ValueError as exc:
        raise FileRejected(str(exc), line=el.sourceline, field=field) from None
    return fen, el.get("Ccy")


def _int(el: Any, path: str) -> int | None:
    value = text(el, path)
    if value is None:
        return None
    if not value.isdigit():
        raise FileRejected(f"{value!r} is not a count", line=el.sourceline, field=path)
    return int(value)


def _date(el: Any | None) -> dt.date | None:
    """A Dt or DtTm element (or a choice parent holding one) as a date."""
    if el is None:
        return None
    target: Any = _first(child(el, "Dt"), child(el, "DtTm"), el)
    value = text(target)
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        raise FileRejected(f"{value!r} is not a date", line=target.sourceline) from None


def _ref(value: str | None) -> str | None:
    if value is None or value.upper() == _NOT_PROVIDED:
        return None
    return value


def _reason_info(holders: list[Any]) -> tuple[str | None, str | None]:
    """(raw code, raw text) from StsRsnInf/RtrInf elements: the first Rsn/Cd; Rsn/Prtry and
    AddtlInf texts joined."""
    code: str | None = None
    texts: list[str] = []
    for holder in holders:
        if code is None:
            code = text(holder, "Rsn/Cd")
        prtry = text(holder, "Rsn/Prtry")
        if prtry:
            texts.append(prtry)
        texts.extend(t for a in children(holder, "AddtlInf") if (t := text(a)))
    return code, ("; ".join(texts) or None)


def _party_name(party: Any | None) -> str | None:
    if party is None:
        return None
    return text(party, "Nm") or text(party, "Pty/Nm")


def _account_id(acct: Any | None) -> str | None:
    if acct is None:
        return None
    return text(acct, "Id/IBAN") or text(acct, "Id/Othr/Id")


def _status_reason(outcome: Outcome, code: str | None, raw: str | None) -> str | None:
    return classify(code, raw) if outcome in ("failed", "returned") else None


# --- pain.002 ---------------------------------------------------------------------------


def parse_pain002(data: bytes | ByteSource, summary: FileSummary) -> Iterator[ReturnLine]:
    position = 0
    listed = 0
    for event, el in iterparse(data):
        if event != "end":
            continue
        name = local(el)
        parent = el.getparent()
        pname = local(parent) if parent is not None else ""
        if name == "GrpHdr" and pname == "CstmrPmtStsRpt":
            summary.message_id = text(el, "MsgId")
        elif name == "OrgnlGrpInfAndSts":
            summary.original_message_id = text(el, "OrgnlMsgId")
            summary.group_status = text(el, "GrpSts")
            summary.declared_count = _int(el, "OrgnlNbOfTxs")
            summary.declared_total_fen, _ = _amount(child(el, "OrgnlCtrlSum"), "OrgnlCtrlSum")
            code, raw = _reason_info(list(children(el, "StsRsnInf")))
            summary.group_raw_code, summary.group_raw_text = code, raw
            if code or raw:
                summary.group_reason = classify(code, raw)
            release(el)
        elif name == "TxInfAndSts" and pname == "OrgnlPmtInfAndSts":
            position += 1
            listed += 1
            yield _pain002_line(el, parent, position, summary)
            release(el)
        elif name == "OrgnlPmtInfAndSts":
            code, raw = _reason_info(list(children(el, "StsRsnInf")))
            status = text(el, "PmtInfSts")
            total, _ = _amount(child(el, "OrgnlCtrlSum"), "OrgnlCtrlSum")
            summary.payment_infos.append(
                PaymentInfoStatus(
                    pmt_inf_id=text(el, "OrgnlPmtInfId"),
                    status=status,
                    reason=classify(code, raw) if (code or raw) else None,
                    raw_code=code,
                    raw_text=raw,
                    declared_count=_int(el, "OrgnlNbOfTxs"),
                    declared_total_fen=total,
                    listed=listed,
                )
            )
            listed = 0
            release(el)


def _pain002_line(tx: Any, block: Any, position: int, summary: FileSummary) -> ReturnLine:
    status = text(tx, "TxSts")
    outcome = tx_status_outcome(status)
    code, raw = _reason_info(list(children(tx, "StsRsnInf")))
    ref = find(tx, "OrgnlTxRef")
    amount_el = _first(
        find(ref, "Amt/InstdAmt"), find(ref, "Amt/EqvtAmt/Amt"), find(ref, "IntrBkSttlmAmt")
    )
    amount, ccy = _amount(amount_el, "InstdAmt")
    return ReturnLine(
        line_no=position,
        seq=None,
        reference=_ref(text(tx, "OrgnlEndToEndId")) or _ref(text(tx, "OrgnlInstrId")),
        account=normalise_account(_account_id(find(ref, "CdtrAcct"))),
        name=normalise_name(_party_name(find(ref, "Cdtr"))),
        amount_fen=amount,
        currency=ccy or summary.currency or DEFAULT_CURRENCY,
        outcome=outcome,
        reason=_status_reason(outcome, code, raw),
        raw_code=code,
        raw_text=raw,
        batch_ref=text(block, "OrgnlPmtInfId"),
    )


# --- camt.054 and camt.053 ----------------------------------------------------------------


def _balance(stmt: Any, codes: tuple[str, ...]) -> tuple[int | None, dt.date | None]:
    for code in codes:
        for bal in children(stmt, "Bal"):
            if text(bal, "Tp/CdOrPrtry/Cd") != code and text(bal, "Tp/CdOrPrtry/Prtry") != code:
                continue
            amount, _ = _amount(child(bal, "Amt"), "Bal/Amt")
            if amount is None:
                continue
            sign = -1 if text(bal, "CdtDbtInd") == "DBIT" else 1
            return sign * amount, _date(child(bal, "Dt"))
    return None, None


def _statement(stmt: Any) -> Statement:
    opening, opening_date = _balance(stmt, ("OPBD", "PRCD"))
    closing, closing_date = _balance(stmt, ("CLBD",))
    acct = child(stmt, "Acct")
    return Statement(
        statement_id=text(stmt, "Id"),
        account_id=_account_id(acct),
        currency=text(acct, "Ccy") if acct is not None else None,
        from_date=_date(find(stmt, "FrToDt/FrDtTm")),
        to_date=_date(find(stmt, "FrToDt/ToDtTm")),
        opening_fen=opening,
        opening_date=opening_date,
        closing_fen=closing,
        closing_date=closing_date,
    )


def _credit_debit(el: Any, default: str | None = None) -> CreditDebit:
    value = text(el, "CdtDbtInd") or default
    if value == "CRDT":
        return "CRDT"
    if value == "DBIT":
        return "DBIT"
    raise FileRejected(f"CdtDbtInd {value!r} is not CRDT or DBIT", line=el.sourceline)


def _entry_status(ntry: Any) -> str | None:
    sts = child(ntry, "Sts")
    if sts is None:
        return None
    return text(sts, "Cd") or text(sts, "Prtry") or text(sts)


def parse_camt(data: bytes | ByteSource, summary: FileSummary) -> Iterator[ReturnLine]:
    """camt.054 (kind 'camt.054') and camt.053 (kind 'camt.053') share entry reading."""
    is_statement = summary.kind == "camt.053"
    position = 0
    current: Statement | None = None
    for event, el in iterparse(data):
        if event != "end":
            continue
        name = local(el)
        parent = el.getparent()
        pname = local(parent) if parent is not None else ""
        if name == "GrpHdr" and pname in ("BkToCstmrStmt", "BkToCstmrDbtCdtNtfctn"):
            summary.message_id = text(el, "MsgId")
        elif name == "Ntry" and pname in ("Stmt", "Ntfctn"):
            if is_statement and current is None:
                current = _statement(parent)
                summary.statements.append(current)
            yield from _entry_lines(el, position, current, is_statement, summary)
            position += _count_tx(el)
            release(el)
        elif name == "Stmt" and is_statement:
            if current is None:
                summary.statements.append(_statement(el))
            current = None
            release(el)
        elif name == "Ntfctn":
            release(el)
    if summary.statements:
        summary.statement = summary.statements[0]


def _count_tx(ntry: Any) -> int:
    return sum(1 for d in children(ntry, "NtryDtls") for _ in children(d, "TxDtls"))


def _entry_lines(
    ntry: Any,
    start: int,
    statement: Statement | None,
    is_statement: bool,
    summary: FileSummary,
) -> Iterator[ReturnLine]:
    entry_amount, entry_ccy = _amount(child(ntry, "Amt"), "Ntry/Amt")
    if entry_amount is None:
        raise FileRejected("entry without Amt", line=ntry.sourceline, field="Ntry/Amt")
    if summary.currency is None:
        summary.currency = entry_ccy
    cdi = _credit_debit(ntry)
    status = _entry_status(ntry)
    details = list(children(ntry, "NtryDtls"))
    batch = next((b for d in details if (b := child(d, "Btch")) is not None), None)
    txs = [tx for d in details for tx in children(d, "TxDtls")]
    if statement is not None:
        statement.entries.append(
            StatementEntry(
                amount_fen=entry_amount,
                currency=entry_ccy or "",
                credit_debit=cdi,
                reversal=(text(ntry, "RvslInd") or "").lower() in ("true", "1"),
                status=status,
                booking_date=_date(child(ntry, "BookgDt")),
                value_date=_date(child(ntry, "ValDt")),
                entry_ref=text(ntry, "NtryRef"),
                account_servicer_ref=text(ntry, "AcctSvcrRef"),
                batch_message_id=text(batch, "MsgId") if batch is not None else None,
                batch_pmt_inf_id=text(batch, "PmtInfId") if batch is not None else None,
                batch_count=_int(batch, "NbOfTxs") if batch is not None else None,
                tx_count=len(txs),
                end_to_end_ids=tuple(e for tx in txs if (e := _ref(text(tx, "Refs/EndToEndId")))),
            )
        )
    batch_ref = text(batch, "PmtInfId") if batch is not None else None
    for i, tx in enumerate(txs, start=1):
        line = _tx_line(
            tx,
            position=start + i,
            entry=(entry_amount, entry_ccy, cdi, status, len(txs)),
            batch_ref=batch_ref,
            is_statement=is_statement,
        )
        if line is not None:
            yield line


def _tx_line(
    tx: Any,
    *,
    position: int,
    entry: tuple[int, str | None, CreditDebit, str | None, int],
    batch_ref: str | None,
    is_statement: bool,
) -> ReturnLine | None:
    entry_amount, entry_ccy, entry_cdi, entry_status, n_txs = entry
    end_to_end = _ref(text(tx, "Refs/EndToEndId"))
    rtr = list(children(tx, "RtrInf"))
    if is_statement and end_to_end is None and not rtr:
        return None  # a statement line we cannot tie to a payout; it stays in the statement
    cdi = _credit_debit(tx, entry_cdi) if child(tx, "CdtDbtInd") is not None else entry_cdi
    outcome: Outcome
    if rtr:
        outcome = "returned"
    elif cdi == "DBIT":
        outcome = "paid" if entry_status in (None, "BOOK") else "unknown"
    else:
        return None  # money in without return information is not a payout outcome
    code, raw = _reason_info(rtr)
    amount_el = _first(find(tx, "AmtDtls/TxAmt/Amt"), child(tx, "Amt"))
    amount, ccy = _amount(amount_el, "TxDtls/Amt")
    if amount is None and n_txs == 1:
        amount, ccy = entry_amount, entry_ccy
    parties = child(tx, "RltdPties")
    first, second = ("Cdtr", "Dbtr") if cdi == "DBIT" else ("Dbtr", "Cdtr")
    account = _account_id(find(parties, first + "Acct")) or _account_id(
        find(parties, second + "Acct")
    )
    name = _party_name(find(parties, first)) or _party_name(find(parties, second))
    return ReturnLine(
        line_no=position,
        seq=None,
        reference=end_to_end or _ref(text(tx, "Refs/InstrId")),
        account=normalise_account(account),
        name=normalise_name(name),
        amount_fen=amount,
        currency=ccy or entry_ccy or DEFAULT_CURRENCY,
        outcome=outcome,
        reason=_status_reason(outcome, code, raw),
        raw_code=code,
        raw_text=raw,
        batch_ref=text(tx, "Refs/PmtInfId") or batch_ref,
    )
