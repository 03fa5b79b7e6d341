"""Entry points: tell the kind of a bank file, parse it, check its totals."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from ledger.filebytes import ByteSource
from ledger.limits import LimitExceeded, parse_limits
from ledger.money import MAX_FEN
from reconciliation.parsers.columns import ColumnMap
from reconciliation.parsers.csv_return import CsvReturn
from reconciliation.parsers.iso import detect_xml_kind, parse_camt, parse_pain002
from reconciliation.parsers.model import FileRejected, FileSummary, Kind, ReturnLine
from reconciliation.parsers.normalise import format_fen

_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")


def _looks_like_xml(data: bytes | ByteSource) -> bool:
    head = ByteSource.of(data).head(512)
    for bom in _BOMS:
        if head.startswith(bom):
            head = head[len(bom) :]
            break
    head = head.replace(b"\x00", b"").lstrip()
    return head.startswith(b"<")


def detect_kind(data: bytes | ByteSource) -> Kind:
    """'csv_return' | 'pain.002' | 'camt.054' | 'camt.053'.

    XML is told by the local name of the root's message element (Document/CstmrPmtStsRpt,
    BkToCstmrDbtCdtNtfctn, BkToCstmrStmt), never by its namespace. Anything that is not XML is
    taken for a CSV return file (its parser decides whether it is one).
    """
    if _looks_like_xml(data):
        return detect_xml_kind(data)
    return "csv_return"


class ParsedFile:
    """A bank file: its ``summary`` and its lines, streamed by ``lines()``.

    From ``parse_return_file`` the whole file has been read and checked once, so ``summary`` is
    complete as soon as the object exists and ``lines()`` reads it again. From
    ``open_return_file`` nothing has been read yet: the first ``lines()`` fills ``summary`` as it
    goes, and it is complete once that pass is exhausted (one pass for files too large to read
    twice).
    """

    def __init__(
        self,
        summary: FileSummary,
        produce: Callable[[FileSummary], Iterator[ReturnLine]],
        *,
        complete: bool = True,
    ):
        self.summary = summary
        self._produce = produce
        self._complete = complete

    @property
    def complete(self) -> bool:
        """Whether ``summary`` describes the whole file."""
        return self._complete

    def lines(self) -> Iterator[ReturnLine]:
        """The file's lines, in file order. Raises only FileRejected."""
        if not self._complete:
            yield from _counted(self._produce, self.summary)
            self._complete = True
            return
        scratch = FileSummary(kind=self.summary.kind)
        yield from self._produce(scratch)


def _counted(
    produce: Callable[[FileSummary], Iterator[ReturnLine]], summary: FileSummary
) -> Iterator[ReturnLine]:
    counted = 0
    total = 0
    for line in produce(summary):
        counted += 1
        total += line.amount_fen or 0
        if total > MAX_FEN:  # the file's total is stored in a BIGINT column
            raise FileRejected(
                f"the lines add up to more than the ledger accepts ({format_fen(MAX_FEN)})",
                line=line.line_no,
                field="金额",
            )
        yield line
    summary.counted = counted
    summary.counted_total_fen = total


def _producer(
    data: bytes | ByteSource, column_map: ColumnMap | None
) -> tuple[Kind, Callable[[FileSummary], Iterator[ReturnLine]]]:
    data = ByteSource.of(data)
    try:
        parse_limits().check_bytes(data.size)
    except LimitExceeded as exc:
        raise FileRejected(exc.reason, field=exc.field) from None
    kind = detect_kind(data)
    produce: Callable[[FileSummary], Iterator[ReturnLine]]
    if kind == "csv_return":
        reader = CsvReturn(data, column_map)
        produce = reader.parse
    elif kind == "pain.002":

        def produce(summary: FileSummary) -> Iterator[ReturnLine]:
            return parse_pain002(data, summary)

    else:

        def produce(summary: FileSummary) -> Iterator[ReturnLine]:
            return parse_camt(data, summary)

    return kind, produce


def parse_return_file(
    data: bytes | ByteSource, *, column_map: ColumnMap | None = None
) -> ParsedFile:
    """Parse a bank return file of any supported kind. Raises FileRejected, naming the line
    and field, for anything that cannot be applied."""
    kind, produce = _producer(data, column_map)
    summary = FileSummary(kind=kind)
    for _ in _counted(produce, summary):
        pass
    return ParsedFile(summary, produce)


def open_return_file(
    data: bytes | ByteSource, *, column_map: ColumnMap | None = None
) -> ParsedFile:
    """Like ``parse_return_file`` but read once: nothing is parsed until ``lines()`` is read,
    and ``summary`` (so ``check_totals``) is complete only after that pass."""
    kind, produce = _producer(data, column_map)
    return ParsedFile(FileSummary(kind=kind), produce, complete=False)


def check_totals(parsed: ParsedFile) -> None:
    """Declared totals against what the lines add up to; FileRejected when they differ.

    CSV: the 合计 trailer's count and total must equal the lines'. pain.002: the listed lines
    cannot exceed the original message's OrgnlNbOfTxs / OrgnlCtrlSum (unlisted lines take the
    group status). camt: no declared totals to check here.
    """
    if not parsed.complete:
        raise RuntimeError("check_totals before the file was read through")
    s = parsed.summary
    if s.kind == "csv_return":
        line = s.trailer_line
        if s.declared_count is not None and s.declared_count != s.counted:
            raise FileRejected(
                f"合计 declares {s.declared_count} lines but the file has {s.counted}",
                line=line,
                field="合计",
            )
        if s.declared_total_fen is not None and s.declared_total_fen != s.counted_total_fen:
            raise FileRejected(
                f"合计 declares a total of {format_fen(s.declared_total_fen)} but the lines "
                f"add up to {format_fen(s.counted_total_fen)}",
                line=line,
                field="合计",
            )
    elif s.kind == "pain.002":
        if s.declared_count is not None and s.counted > s.declared_count:
            raise FileRejected(
                f"{s.counted} transactions listed but the original message had "
                f"{s.declared_count} (OrgnlNbOfTxs)",
                field="OrgnlNbOfTxs",
            )
        if s.declared_total_fen is not None and s.counted_total_fen > s.declared_total_fen:
            raise FileRejected(
                f"listed transactions total {format_fen(s.counted_total_fen)}, more than the "
                f"original {format_fen(s.declared_total_fen)} (OrgnlCtrlSum)",
                field="OrgnlCtrlSum",
            )
