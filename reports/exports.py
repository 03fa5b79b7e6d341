"""Tables a report exports as CSV and XLSX: the findings and the payout lines.

One table, two formats. The CSV is UTF-8 with a BOM (so Excel reads the Chinese) and every text
cell passes through ``ledger.spreadsheet.neutralise``. The XLSX is written by openpyxl in
write-only mode (rows stream, a county's payouts stay in bounded memory); every text cell is
stored as a string cell, never as a formula, so nothing in it runs, and amounts are numbers in
yuan with two places.

The payout table is masked: the payee's name as the disclosure shows it, no ID number and no
bank account; the payout reference (发放编号) identifies the line.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import IO

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from ledger.spreadsheet import neutralise

FORMATS = ("csv", "xlsx")
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@dataclass(frozen=True)
class Fen:
    """An amount cell: integer fen, printed as yuan with two places."""

    fen: int


Cell = str | int | Fen | None


@dataclass(frozen=True)
class Table:
    """A sheet: its title, header and rows (any iterable, consumed once)."""

    title: str
    header: Sequence[str]
    rows: Iterable[Sequence[Cell]]


def _csv_cell(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, Fen):
        sign = "-" if value.fen < 0 else ""
        yuan, cents = divmod(abs(value.fen), 100)
        return f"{sign}{yuan}.{cents:02d}"
    if isinstance(value, int):
        return str(value)
    return neutralise(value)


def write_csv(table: Table, out: IO[bytes]) -> None:
    """The table as CSV (CRLF rows, BOM first), formula-like text neutralised."""
    out.write(b"\xef\xbb\xbf")
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([neutralise(h) for h in table.header])
    for row in table.rows:
        writer.writerow([_csv_cell(c) for c in row])
        if buf.tell() > 1 << 16:
            out.write(buf.getvalue().encode("utf-8"))
            buf.seek(0)
            buf.truncate()
    out.write(buf.getvalue().encode("utf-8"))


def csv_bytes(table: Table) -> bytes:
    buf = io.BytesIO()
    write_csv(table, buf)
    return buf.getvalue()


_BOLD = Font(bold=True)


def _xlsx_cell(sheet: WriteOnlyWorksheet, value: Cell, *, bold: bool = False) -> WriteOnlyCell:
    if isinstance(value, Fen):
        cell = WriteOnlyCell(sheet, value=Decimal(value.fen) / 100)
        cell.number_format = "#,##0.00"
        return cell
    if isinstance(value, int) or value is None:
        return WriteOnlyCell(sheet, value=value)
    cell = WriteOnlyCell(sheet, value=value)
    cell.data_type = "s"  # a string, even when it starts with "=": never a formula
    if bold:
        cell.font = _BOLD
    return cell


def write_xlsx(table: Table, out: IO[bytes], *, as_of: date) -> None:
    """The table as one worksheet; the workbook's dates are the report's date, not the clock."""
    book = Workbook(write_only=True)
    stamp = datetime.combine(as_of, time())
    book.properties.created = book.properties.modified = stamp
    book.properties.creator = "gd-assistance-ledger"
    book.properties.title = table.title
    sheet = book.create_sheet(table.title[:31])
    sheet.freeze_panes = "A2"
    sheet.append([_xlsx_cell(sheet, h, bold=True) for h in table.header])
    for row in table.rows:
        sheet.append([_xlsx_cell(sheet, c) for c in row])
    book.save(out)


def write(table: Table, out: IO[bytes], fmt: str, *, as_of: date) -> None:
    if fmt == "csv":
        write_csv(table, out)
    elif fmt == "xlsx":
        write_xlsx(table, out, as_of=as_of)
    else:
        raise ValueError(f"format {fmt!r} is not one of {FORMATS}")
