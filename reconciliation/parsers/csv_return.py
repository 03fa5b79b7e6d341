"""CSV return files (回盘) as Chinese banks write them."""

from __future__ import annotations

import codecs
import csv
import re
import unicodedata
from collections.abc import Iterable, Iterator

from ledger.filebytes import ByteSource, NotText, text_encoding
from ledger.limits import LimitExceeded, bounded_lines, parse_limits
from reconciliation.parsers.columns import FIELD_LABELS, ColumnMap, default_column_map
from reconciliation.parsers.model import FileRejected, FileSummary, Outcome, ReturnLine
from reconciliation.parsers.normalise import NAME_DROP, nfkc, parse_amount_fen
from reconciliation.reasons import classify, result_outcome

_TRAILER_MARKS = ("合计", "总计", "共计", "汇总", "总笔数")
_NUMBER = r"(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
_COUNT_RES = (
    re.compile(r"(?:总?笔数|总数|条数)\s*[:=]?\s*" + _NUMBER),
    re.compile(_NUMBER + r"\s*(?:笔|条)"),
)
_PLAIN_NUMBER = re.compile("^" + _NUMBER + "$")
_TOTAL_RES = (re.compile(r"(?:总?金额|合计金额|总额)\s*(?:\(元\))?\s*[:=]?\s*" + _NUMBER),)
_REQUIRED = ("amount", "result")
_DELIMITERS = (",", "\t", "|", ";")
_CELL_SEP = "\x1f"
# A million-line file is walked line by line without a list or a copy of its text: the same
# breaks as str.splitlines(), and as io.StringIO(newline="") (what the csv reader expects).
_BREAKS = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"
_SPLITLINES_RE = re.compile(f"([^{_BREAKS}]*)(?:\r\n|[{_BREAKS}])|[^{_BREAKS}]+\\Z")
_PHYSICAL_LINE_RE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")


def text_lines(text: str) -> Iterator[str]:
    """``text.splitlines()``, one line at a time."""
    for m in _SPLITLINES_RE.finditer(text):
        line = m.group(1)
        yield m.group(0) if line is None else line


def physical_lines(text: str) -> Iterator[str]:
    """``io.StringIO(text, newline="")`` read line by line, ends kept, without copying text."""
    for m in _PHYSICAL_LINE_RE.finditer(text):
        yield m.group(0)


def stream_physical_lines(pieces: Iterable[str], *, max_chars: int | None = None) -> Iterator[str]:
    """``physical_lines`` of the text the pieces join to, split wherever the pieces were cut.

    A ``\r`` at the end of a piece waits for the next one (it may be half of ``\r\n``). An
    unfinished line longer than ``max_chars`` is given as it stands, without waiting for its
    end, so that ``bounded_lines`` refuses it before it grows any further.
    """
    carry = ""
    for piece in pieces:
        text = carry + piece if carry else piece
        search_end = len(text) - 1 if text.endswith("\r") else len(text)
        last = max(text.rfind("\n", 0, search_end), text.rfind("\r", 0, search_end))
        for m in _PHYSICAL_LINE_RE.finditer(text, 0, last + 1):
            yield m.group(0)
        carry = text[last + 1 :]
        if max_chars is not None and len(carry) > max_chars:
            yield carry
            return
    if carry:
        yield from physical_lines(carry)


def sniff_encoding(source: ByteSource) -> tuple[str, int]:
    """``ledger.filebytes.text_encoding``, refusing as a bank file is refused."""
    try:
        return text_encoding(source)
    except NotText as exc:
        raise FileRejected(exc.reason, line=exc.line, field=exc.field) from None


def text_pieces(pieces: Iterable[bytes], encoding: str) -> Iterator[str]:
    """The text of the joined pieces, decoded a piece at a time (a character cut between two
    pieces is completed by the next one): never the whole text at once."""
    decoder = codecs.getincrementaldecoder(encoding)()
    for piece in pieces:
        text = decoder.decode(piece)
        if text:
            yield text
    text = decoder.decode(b"", final=True)
    if text:
        yield text


def _cells(row: list[str]) -> list[str]:
    """Each cell NFKC-normalised and stripped, with one normalisation call per row.

    U+001F never composes with a neighbour and nothing decomposes to it, so normalising the
    joined row equals normalising each cell; a row that holds U+001F itself takes the cells one
    by one.
    """
    joined = _CELL_SEP.join(row)
    if joined.isascii():  # ASCII is its own NFKC form
        return [c.strip() for c in row]
    cells = unicodedata.normalize("NFKC", joined).split(_CELL_SEP)
    if len(cells) != len(row):
        return [nfkc(c) for c in row]
    return [c.strip() for c in cells]


def _is_trailer(cells: list[str]) -> bool:
    first = cells[0] or next((c for c in cells if c), "")
    return first.replace(" ", "").startswith(_TRAILER_MARKS)


def parse_trailer(
    cells: list[str], line: int, delimiter: str = ","
) -> tuple[int | None, int | None]:
    """(count, total fen) from a 合计 row, liberally: '合计,3笔,"3,600.00"',
    '合计：笔数 3 金额 3,600.00' (even unquoted, split by the CSV reader), '合计,3,3600.00'.

    Labelled numbers (笔数/笔, 金额) are read from the row as written; otherwise the cells that
    are plain numbers are taken in order: count, then total.
    """
    joined = delimiter.join(cells)
    count: int | None = None
    total: int | None = None
    for rx in _COUNT_RES:
        m = rx.search(joined)
        if m:
            count_text = m.group(1).replace(",", "")
            if "." in count_text:
                raise FileRejected(f"count {m.group(1)!r} is not whole", line=line, field="合计")
            count = int(count_text)
            break
    for rx in _TOTAL_RES:
        m = rx.search(joined)
        if m:
            total = _trailer_amount(m.group(1), line)
            break
    if count is None or total is None:
        plain = [
            c.removesuffix("元") for c in cells[1:] if _PLAIN_NUMBER.match(c.removesuffix("元"))
        ]
        if count is None and total is None and len(plain) >= 2:
            count_text, total_text = plain[0], plain[1]
            if "." in count_text or "," in count_text:
                raise FileRejected(f"count {count_text!r} is not whole", line=line, field="合计")
            count, total = int(count_text), _trailer_amount(total_text, line)
        elif len(plain) == 1:
            only = plain[0]
            if total is None and (count is not None or "." in only or "," in only):
                total = _trailer_amount(only, line)
            elif count is None and "." not in only and "," not in only:
                count = int(only)
    if count is None and total is None:
        raise FileRejected("合计 row has no count or total", line=line, field="合计")
    return count, total


def _trailer_amount(text: str, line: int) -> int:
    try:
        return parse_amount_fen(text)
    except ValueError as exc:
        raise FileRejected(f"total {text!r}: {exc}", line=line, field="合计") from None


class CsvReturn:
    """One CSV return file: header located on construction, lines streamed."""

    def __init__(self, data: bytes | ByteSource, column_map: ColumnMap | None):
        self.source = ByteSource.of(data)
        self.encoding, self._skip = sniff_encoding(self.source)
        self.columns = column_map or default_column_map()
        self.delimiter = self.columns.delimiter or self._detect_delimiter()

    def _physical_lines(self) -> Iterator[str]:
        """The file's lines, bounded in length and number as they are reached."""
        limits = parse_limits()
        return bounded_lines(
            stream_physical_lines(
                text_pieces(self.source.pieces(start=self._skip), self.encoding),
                max_chars=limits.max_line_chars,
            ),
            max_chars=limits.max_line_chars,
            max_lines=limits.max_file_lines,
            lines_setting="max_file_lines",
        )

    def _detect_delimiter(self) -> str:
        try:
            for physical in self._physical_lines():
                for raw in text_lines(physical):
                    line = nfkc(raw)
                    if not line:
                        continue
                    counts = {d: line.count(d) for d in _DELIMITERS}
                    best = max(_DELIMITERS, key=lambda d: counts[d])
                    if counts[best] and self._header_in(line, best):
                        return best
        except LimitExceeded:
            pass  # the parse refuses that line, naming it
        return ","

    def _header_in(self, line: str, delimiter: str) -> bool:
        cells = [c.strip().strip('"') for c in line.split(delimiter)]
        found = self.columns.locate(cells)
        return all(f in found for f in _REQUIRED)

    def _rows(self) -> Iterator[tuple[int, list[str]]]:
        limits = parse_limits()
        reader = csv.reader(self._physical_lines(), delimiter=self.delimiter)
        prev = 0
        try:
            for row in reader:
                start = prev + 1
                prev = reader.line_num
                if len(row) > limits.max_table_columns:
                    raise LimitExceeded(
                        "max_table_columns", limits.max_table_columns, "columns", line=start
                    )
                yield start, row
        except csv.Error as exc:
            raise FileRejected(f"malformed CSV: {exc}", line=prev + 1) from None
        except LimitExceeded as exc:
            raise FileRejected(exc.reason, line=exc.line, field=exc.field) from None

    def parse(self, summary: FileSummary) -> Iterator[ReturnLine]:
        summary.currency = "CNY"
        rows = self._rows()
        index: dict[str, int] | None = None
        title: str | None = None
        for _header_line, row in rows:
            cells = _cells(row)
            if not any(cells):
                continue
            found = self.columns.locate(cells)
            if all(f in found for f in _REQUIRED):
                index = found
                break
            if title is None:
                title = " ".join(c for c in cells if c)
        if index is None:
            wanted = "、".join(FIELD_LABELS[f] for f in _REQUIRED)
            raise FileRejected(f"no header row with the columns {wanted} found", field="header")
        if not any(f in index for f in ("reference", "seq", "account")):
            raise FileRejected(
                "header has none of 备注, 序号, 收款账号: lines cannot be matched", field="header"
            )
        duplicates = self.columns.duplicates(cells, index)
        if duplicates:
            first, second = duplicates[0]
            raise FileRejected(
                f"duplicate column: {cells[second]!r} (column {second + 1}) repeats "
                f"{cells[first]!r} (column {first + 1})",
                line=_header_line,
                field=cells[second],
            )
        summary.title = title
        width = max(index.values()) + 1
        make = _LineMaker(index)
        for line_no, row in rows:
            cells = _cells(row)
            if not any(cells):
                continue
            if summary.trailer_line is not None:
                if self._looks_like_data(cells, index):
                    raise FileRejected(
                        f"data row after the 合计 trailer on line {summary.trailer_line}",
                        line=line_no,
                    )
                continue  # footer text (制表人, 打印日期 ...) after the trailer
            if _is_trailer(cells):
                count, total = parse_trailer(cells, line_no, self.delimiter)
                summary.declared_count = count
                summary.declared_total_fen = total
                summary.trailer_line = line_no
                continue
            if len(cells) < width:
                cells = cells + [""] * (width - len(cells))
            yield make(line_no, cells)

    @staticmethod
    def _looks_like_data(cells: list[str], index: dict[str, int]) -> bool:
        def get(f: str) -> str:
            i = index.get(f)
            return cells[i] if i is not None and i < len(cells) else ""

        return bool(get("amount")) and (bool(get("reference")) or bool(get("account")))


class _LineMaker:
    """Builds a ReturnLine from a row's cells, which are already NFKC-normalised and stripped
    (so ``clean`` of a cell is the cell or None). Column positions are looked up once per file,
    and the result and reason phrase tables once per distinct text: a file has few of them."""

    _MEMO_LIMIT = 4096  # a hostile file with a million distinct reasons does not grow memory

    def __init__(self, index: dict[str, int]):
        self.seq = index.get("seq")
        self.amount = index.get("amount")
        self.reference = index.get("reference")
        self.account = index.get("account")
        self.name = index.get("name")
        self.result = index.get("result")
        self.reason = index.get("reason")
        self.batch = index.get("batch")
        self._outcomes: dict[str | None, Outcome] = {}
        self._reasons: dict[str | None, str] = {}

    def _outcome(self, result: str | None) -> Outcome:
        outcome = self._outcomes.get(result)
        if outcome is None:
            outcome = result_outcome(result)
            if len(self._outcomes) < self._MEMO_LIMIT:
                self._outcomes[result] = outcome
        return outcome

    def _reason(self, raw_text: str | None) -> str:
        reason = self._reasons.get(raw_text)
        if reason is None:
            reason = classify(None, raw_text)
            if len(self._reasons) < self._MEMO_LIMIT:
                self._reasons[raw_text] = reason
        return reason

    def __call__(self, line_no: int, cells: list[str]) -> ReturnLine:
        seq: int | None = None
        if self.seq is not None:
            seq_text = cells[self.seq]
            if seq_text:
                if not seq_text.isdigit():
                    raise FileRejected(
                        f"序号 {seq_text!r} is not a number", line=line_no, field="序号"
                    )
                seq = int(seq_text)
        amount_text = cells[self.amount] if self.amount is not None else ""
        if not amount_text:
            raise FileRejected("金额 is empty", line=line_no, field="金额")
        try:
            amount = parse_amount_fen(amount_text)
        except ValueError as exc:
            raise FileRejected(str(exc), line=line_no, field="金额") from None
        reference = (cells[self.reference] or None) if self.reference is not None else None
        account = None
        if self.account is not None:
            account = "".join(cells[self.account].split()) or None
        if reference is None and seq is None and account is None:
            raise FileRejected(
                "no 备注 (reference), 序号 or 收款账号: the line cannot be matched",
                line=line_no,
                field="备注",
            )
        name = None
        if self.name is not None:
            name = "".join(cells[self.name].split()).translate(NAME_DROP) or None
        outcome = self._outcome((cells[self.result] or None) if self.result is not None else None)
        raw_text = (cells[self.reason] or None) if self.reason is not None else None
        return ReturnLine(
            line_no=line_no,
            seq=seq,
            reference=reference,
            account=account,
            name=name,
            amount_fen=amount,
            currency="CNY",
            outcome=outcome,
            reason=self._reason(raw_text) if outcome == "failed" else None,
            raw_code=None,
            raw_text=raw_text,
            batch_ref=(cells[self.batch] or None) if self.batch is not None else None,
        )
