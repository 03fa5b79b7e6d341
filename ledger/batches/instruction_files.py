"""Payment instruction files (代发指令) for the paying bank: a CSV with a 合计 trailer, and
ISO 20022 ``pain.001.001.09``.

Both writers stream: lines are written as they arrive, so a batch of a million lines needs
bounded memory. The header carries the count and total the batch was released with; the
writers check the streamed lines against them at the end and raise if they differ, in which
case the caller must discard what was written.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from copy import deepcopy
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import IO, BinaryIO, Literal

from lxml import etree

from ledger.money import fen_to_str
from ledger.spreadsheet import neutralise

__all__ = [
    "PAIN001_NS",
    "InstructionHeader",
    "InstructionLine",
    "validate_pain001",
    "write_instruction_csv",
    "write_pain001",
]

PAIN001_NS = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"
CSV_HEADER = ("序号", "收款账号", "收款户名", "金额", "备注")
_MAX_REFERENCE = 12  # the narrowest bank remark field
_FLUSH_EVERY = 1000


@dataclass(frozen=True, slots=True)
class InstructionLine:
    seq: int
    reference: str  # unique per attempt, at most 12 ASCII characters
    account_no: str
    account_name: str
    amount_fen: int
    payee_name: str
    id_number_masked: str | None = None


@dataclass(frozen=True)
class InstructionHeader:
    batch_id: int
    message_id: str
    county_code: str
    county_name: str
    fund_code: str
    fund_name: str
    period: str  # YYYYMM
    payer_account: str
    payer_name: str
    bank_code: str
    bank_name: str
    created_at: dt.datetime
    line_count: int
    total_fen: int


class _Tally:
    """Counts and sums the lines as they stream past, refusing a malformed line."""

    def __init__(self, header: InstructionHeader) -> None:
        self.header = header
        self.count = 0
        self.total = 0
        self.last_seq = 0

    def take(self, lines: Iterable[InstructionLine]) -> Iterator[InstructionLine]:
        for line in lines:
            if line.amount_fen <= 0:
                raise ValueError(f"line {line.seq}: amount must be positive")
            if line.seq <= self.last_seq:
                raise ValueError(f"line {line.seq}: sequence numbers must increase")
            if not (line.reference.isascii() and 0 < len(line.reference) <= _MAX_REFERENCE):
                raise ValueError(f"line {line.seq}: reference must be 1–12 ASCII characters")
            if not line.account_no or not line.account_name:
                raise ValueError(f"line {line.seq}: account number and name are required")
            self.last_seq = line.seq
            self.count += 1
            self.total += line.amount_fen
            yield line

    def check(self) -> None:
        if (self.count, self.total) != (self.header.line_count, self.header.total_fen):
            raise ValueError(
                f"lines written ({self.count} lines, {fen_to_str(self.total)}) differ from the "
                f"batch header ({self.header.line_count} lines, "
                f"{fen_to_str(self.header.total_fen)}); discard the file"
            )


def write_instruction_csv(
    header: InstructionHeader,
    lines: Iterable[InstructionLine],
    out: BinaryIO,
    *,
    encoding: Literal["utf-8", "gbk"] = "utf-8",
) -> None:
    """序号,收款账号,收款户名,金额,备注 (备注 is our reference), then ``合计,<count>,,<total>,``."""
    tally = _Tally(header)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def flush(seq: int | None = None) -> None:
        try:
            out.write(buffer.getvalue().encode(encoding))
        except UnicodeEncodeError as exc:
            where = f"near line {seq}" if seq is not None else "in the header"
            raise ValueError(
                f"{where}: {exc.object[exc.start : exc.end]!r} has no {encoding} form"
            ) from exc
        buffer.seek(0)
        buffer.truncate()

    writer.writerow(CSV_HEADER)
    for line in tally.take(lines):
        writer.writerow(
            (
                line.seq,
                line.account_no,
                neutralise(line.account_name),
                fen_to_str(line.amount_fen),
                line.reference,
            )
        )
        if tally.count % _FLUSH_EVERY == 0:
            flush(line.seq)
    tally.check()
    writer.writerow(("合计", tally.count, "", fen_to_str(tally.total), ""))
    flush(tally.last_seq)


# pain.001.001.09's Max35Text/Max140Text are any xs:string of 1–35/140 characters (Chinese
# included); what XML 1.0 cannot carry, and control characters a bank's form would not show,
# are refused rather than written.
_NOT_TEXT_RE = re.compile("[^\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _text(value: str, *, max_len: int, what: str) -> str:
    value = value.strip()
    if not 1 <= len(value) <= max_len:
        raise ValueError(f"{what} must be 1–{max_len} characters, got {value!r}")
    bad = _NOT_TEXT_RE.search(value)
    if bad is not None:
        raise ValueError(f"{what} holds {bad.group()!r}, which pain.001 text cannot carry")
    return value


def _q(tag: str) -> str:
    return f"{{{PAIN001_NS}}}{tag}"


def _leaf(xf: etree.xmlfile, path: str, text: str, attrib: dict[str, str] | None = None) -> None:
    """``_leaf(xf, "DbtrAcct/Id/Othr/Id", x)`` writes the nested elements around ``x``."""
    *outer, last = path.split("/")
    with ExitStack() as stack:
        for tag in outer:
            stack.enter_context(xf.element(_q(tag)))
        with xf.element(_q(last), attrib or {}):
            xf.write(text)


def write_pain001(
    header: InstructionHeader, lines: Iterable[InstructionLine], out: BinaryIO
) -> None:
    """One ``pain.001.001.09`` message, one payment information block, a transfer per line."""
    message_id = _text(header.message_id, max_len=35, what="message id")
    count = str(header.line_count)
    total = fen_to_str(header.total_fen)
    payer = _text(header.payer_name, max_len=140, what="payer name")
    payer_account = _text(header.payer_account, max_len=34, what="payer account")
    bank_code = _text(header.bank_code, max_len=35, what="bank code")
    remittance = _text(f"{header.fund_name} {header.period}", max_len=140, what="remittance")

    tally = _Tally(header)
    with etree.xmlfile(out, encoding="utf-8") as xf:
        xf.write_declaration()
        with (
            xf.element(_q("Document"), nsmap={None: PAIN001_NS}),
            xf.element(_q("CstmrCdtTrfInitn")),
        ):
            with xf.element(_q("GrpHdr")):
                _leaf(xf, "MsgId", message_id)
                _leaf(xf, "CreDtTm", header.created_at.replace(microsecond=0).isoformat())
                _leaf(xf, "NbOfTxs", count)
                _leaf(xf, "CtrlSum", total)
                _leaf(xf, "InitgPty/Nm", payer)
            with xf.element(_q("PmtInf")):
                _leaf(xf, "PmtInfId", message_id)
                _leaf(xf, "PmtMtd", "TRF")
                _leaf(xf, "BtchBookg", "true")
                _leaf(xf, "NbOfTxs", count)
                _leaf(xf, "CtrlSum", total)
                _leaf(xf, "ReqdExctnDt/Dt", header.created_at.date().isoformat())
                _leaf(xf, "Dbtr/Nm", payer)
                _leaf(xf, "DbtrAcct/Id/Othr/Id", payer_account)
                _leaf(xf, "DbtrAgt/FinInstnId/Othr/Id", bank_code)
                for line in tally.take(lines):
                    _write_transfer(xf, line, remittance)
                    if tally.count % _FLUSH_EVERY == 0:
                        xf.flush()
                tally.check()


# One transfer, unqualified: serialised inside <Document xmlns="...pain.001.001.09"> its tags fall
# in the default namespace without every transfer redeclaring it. Copying this template is
# several times faster than building each transfer element by element.
_TRANSFER_TEMPLATE = etree.fromstring(
    "<CdtTrfTxInf><PmtId><InstrId/><EndToEndId/></PmtId>"
    '<Amt><InstdAmt Ccy="CNY"/></Amt><Cdtr><Nm/></Cdtr>'
    "<CdtrAcct><Id><Othr><Id/></Othr></Id></CdtrAcct><RmtInf><Ustrd/></RmtInf></CdtTrfTxInf>"
)
# Positions (document order) of InstrId, EndToEndId, InstdAmt, Cdtr/Nm, CdtrAcct Id, Ustrd.
_TRANSFER_LEAVES = tuple(i for i, e in enumerate(_TRANSFER_TEMPLATE.iter()) if len(e) == 0)


def _write_transfer(xf: etree.xmlfile, line: InstructionLine, remittance: str) -> None:
    values = (
        line.reference,
        line.reference,
        fen_to_str(line.amount_fen),
        _text(line.account_name, max_len=140, what=f"line {line.seq} account name"),
        _text(line.account_no, max_len=34, what=f"line {line.seq} account number"),
        remittance,
    )
    transfer = deepcopy(_TRANSFER_TEMPLATE)
    elements = list(transfer.iter())
    for position, value in zip(_TRANSFER_LEAVES, values, strict=True):
        elements[position].text = value
    xf.write(transfer)


@lru_cache(maxsize=1)
def _pain001_schema() -> etree.XMLSchema:
    xsd = resources.files("ledger.iso20022").joinpath("pain.001.001.09.xsd")
    with xsd.open("rb") as f:
        return etree.XMLSchema(etree.parse(f))


_MAX_REPORTED = 10


def validate_pain001(data_or_path: bytes | str | os.PathLike[str] | IO[bytes]) -> None:
    """Validate against the packaged XSD while streaming, so a large file needs little memory.

    Raises ``ValueError`` listing the first errors (line: message).
    """
    source: IO[bytes] | str | os.PathLike[str]
    source = io.BytesIO(data_or_path) if isinstance(data_or_path, bytes) else data_or_path
    schema = _pain001_schema()
    etree.clear_error_log()  # the log is per thread; keep an earlier parse's errors out
    root_closed = False
    try:
        for _event, element in etree.iterparse(
            source, events=("end",), schema=schema, resolve_entities=False, no_network=True
        ):
            if element.tag == f"{{{PAIN001_NS}}}CdtTrfTxInf":
                element.clear()
                while element.getprevious() is not None:
                    del element.getparent()[0]
            root_closed = element.getparent() is None
    except etree.XMLSyntaxError as exc:
        # Streaming validation does not keep line numbers; report each distinct message once.
        messages = dict.fromkeys(e.message for e in exc.error_log if e.message) or {str(exc): None}
        raise ValueError(
            "pain.001 does not validate against pain.001.001.09.xsd:\n"
            + "\n".join(list(messages)[:_MAX_REPORTED])
        ) from exc
    if not root_closed:
        raise ValueError(
            "pain.001 does not validate against pain.001.001.09.xsd: incomplete document"
        )
