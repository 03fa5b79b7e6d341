"""The public disclosure (救助对象公示) of one jurisdiction, fund and period.

Rows are drawn straight onto the canvas with a fixed row height, one pass over the input, so
a county's hundred thousand rows stream in bounded memory: only the group totals and a few
width caches are kept. Names are masked here, by the renderer itself; the row type carries no
ID number, address, account, income or assets, so none can be printed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import BinaryIO

from reportlab.lib.colors import Color
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth

from reports.masking import mask_name
from reports.pdf.base import (
    BODY_BOTTOM,
    BODY_TOP,
    MARGIN_X,
    DocumentInfo,
    LedgerCanvas,
    PageText,
    format_fen,
)
from reports.pdf.fonts import register_cjk_font


@dataclass(frozen=True)
class DisclosureRow:
    township: str
    village: str
    name: str
    household_size: int
    monthly_amount_fen: int


@dataclass(frozen=True)
class DisclosureInfo:
    jurisdiction_name: str
    jurisdiction_code: str
    fund_name: str
    period: str
    issuing_bureau: str
    hotline: str
    generated_on: date


NOT_SHOWN_NOTE = (
    "说明：为保护救助对象的个人隐私，本公示只列出经部分隐去的姓名、家庭保障人口和月救助金额，"
    "不公布身份证号码、家庭住址、银行账号、家庭收入和财产等信息。"
)

FONT_SIZE = 9
ROW_HEIGHT = 5.2 * mm
TEXT_DROP = 3.6 * mm  # baseline below the top of a row
SHADE = Color(0.9, 0.9, 0.9)
LIGHT_SHADE = Color(0.96, 0.96, 0.96)
BLACK = Color(0, 0, 0)


@dataclass(frozen=True)
class _Column:
    title: str
    x: float
    width: float
    right: bool = False

    @property
    def anchor(self) -> float:
        return self.x + self.width - 1.5 * mm if self.right else self.x + 1.5 * mm


def _columns() -> tuple[_Column, ...]:
    widths = (14 * mm, 38 * mm, 44 * mm, 30 * mm, 20 * mm, 34 * mm)
    titles = ("序号", "镇（街道）", "村（社区）", "姓名", "家庭人口", "月救助金额（元）")
    rights = (True, False, False, False, True, True)
    cols: list[_Column] = []
    x = MARGIN_X
    for title, width, right in zip(titles, widths, rights, strict=True):
        cols.append(_Column(title, x, width, right))
        x += width
    return tuple(cols)


COLUMNS = _columns()
SEQ, TOWNSHIP, VILLAGE, NAME, SIZE, AMOUNT = COLUMNS
TABLE_RIGHT = AMOUNT.x + AMOUNT.width


@dataclass
class _Totals:
    households: int = 0
    persons: int = 0
    amount_fen: int = 0

    def add(self, persons: int, amount_fen: int) -> None:
        self.households += 1
        self.persons += persons
        self.amount_fen += amount_fen


def wrap_text(text: str, font: str, size: float, width: float) -> list[str]:
    """Greedy character wrap for CJK prose (which has no spaces to break at)."""
    lines: list[str] = []
    line = ""
    for ch in text:
        if line and stringWidth(line + ch, font, size) > width:
            lines.append(line)
            line = ""
        line += ch
    if line:
        lines.append(line)
    return lines


class _DisclosureWriter:
    def __init__(self, canvas: LedgerCanvas, info: DisclosureInfo, title: str) -> None:
        self.c = canvas
        self.font = canvas.font_name
        self.info = info
        self.title = title
        self.y = BODY_TOP
        self.text = PageText(canvas, self.font, FONT_SIZE)
        self._fitted: dict[tuple[str, float], str] = {}
        self._numbers: dict[int, tuple[str, float]] = {}
        self._amounts: dict[int, tuple[str, float]] = {}
        self._ellipsis_width = stringWidth("…", self.font, FONT_SIZE)
        self._digit_width = {d: stringWidth(d, self.font, FONT_SIZE) for d in "0123456789"}

    # -- text helpers -----------------------------------------------------------------------
    def _fit(self, text: str, width: float) -> str:
        """Cut text that would spill into the next column; cached per distinct string."""
        key = (text, width)
        fitted = self._fitted.get(key)
        if fitted is None:
            fitted = text
            if stringWidth(text, self.font, FONT_SIZE) > width:
                while fitted and (
                    stringWidth(fitted, self.font, FONT_SIZE) + self._ellipsis_width > width
                ):
                    fitted = fitted[:-1]
                fitted += "…"
            if len(self._fitted) < 20_000:
                self._fitted[key] = fitted
        return fitted

    def _fit_name(self, masked: str, width: float) -> str:
        # No glyph is wider than one em, so a short name needs no measuring.
        if len(masked) * FONT_SIZE <= width:
            return masked
        return self._fit(masked, width)

    def _number(self, value: int) -> tuple[str, float]:
        found = self._numbers.get(value)
        if found is None:
            text = str(value)
            found = (text, stringWidth(text, self.font, FONT_SIZE))
            if len(self._numbers) < 100_000:
                self._numbers[value] = found
        return found

    def _amount(self, fen: int) -> tuple[str, float]:
        found = self._amounts.get(fen)
        if found is None:
            text = format_fen(fen)
            found = (text, stringWidth(text, self.font, FONT_SIZE))
            if len(self._amounts) < 100_000:
                self._amounts[fen] = found
        return found

    def _cell(self, text: str, x: float) -> None:
        self.text.draw(x, self.y - TEXT_DROP, text)

    def _sequence(self, seq: int) -> None:
        """Every sequence number is new: measure it by its digits and do not cache it."""
        text = str(seq)
        width = sum(self._digit_width[d] for d in text)
        self.text.draw(SEQ.anchor - width, self.y - TEXT_DROP, text, cache=False)

    def _right(self, measured: tuple[str, float], col: _Column) -> None:
        self._cell(measured[0], col.anchor - measured[1])

    # -- pages ------------------------------------------------------------------------------
    def _start_page(self) -> None:
        self.c.draw_page_furniture()
        self.y = BODY_TOP

    def _finish_page(self) -> None:
        self.c.setFillColor(BLACK)
        self.text.flush()
        self.c.showPage()

    def _column_header(self) -> None:
        c = self.c
        c.setFillColor(SHADE)
        c.rect(MARGIN_X, self.y - ROW_HEIGHT, TABLE_RIGHT - MARGIN_X, ROW_HEIGHT, stroke=0, fill=1)
        c.setFillColor(BLACK)
        for col in COLUMNS:
            width = stringWidth(col.title, self.font, FONT_SIZE)
            self._cell(col.title, col.anchor - width if col.right else col.anchor)
        self.y -= ROW_HEIGHT

    def _ensure_room(self, rows: int = 1) -> None:
        if self.y - rows * ROW_HEIGHT < BODY_BOTTOM:
            self._finish_page()
            self._start_page()
            self._column_header()

    def first_page(self) -> None:
        self._start_page()
        c, font, info = self.c, self.font, self.info
        size = 15
        while size > 9 and stringWidth(self.title, font, size) > TABLE_RIGHT - MARGIN_X:
            size -= 1
        c.setFont(font, size)
        c.drawCentredString((MARGIN_X + TABLE_RIGHT) / 2, self.y - 7 * mm, self.title)
        c.setFont(font, FONT_SIZE)
        lines = (
            f"行政区划：{info.jurisdiction_name}（{info.jurisdiction_code}）"
            f"　资金项目：{info.fund_name}　期间：{info.period}",
            f"公示单位：{info.issuing_bureau}　监督举报电话：{info.hotline}",
        )
        y = self.y - 14 * mm
        for line in lines:
            c.drawString(MARGIN_X, y, line)
            y -= 5 * mm
        self.y = y - 1 * mm
        self._column_header()

    # -- rows -------------------------------------------------------------------------------
    def row(self, seq: int, row: DisclosureRow) -> None:
        if self.y - ROW_HEIGHT < BODY_BOTTOM:
            self._ensure_room()
        self._sequence(seq)
        self._cell(self._fit(row.township, TOWNSHIP.width - 3 * mm), TOWNSHIP.anchor)
        self._cell(self._fit(row.village, VILLAGE.width - 3 * mm), VILLAGE.anchor)
        self._cell(self._fit_name(mask_name(row.name), NAME.width - 3 * mm), NAME.anchor)
        self._right(self._number(row.household_size), SIZE)
        self._right(self._amount(row.monthly_amount_fen), AMOUNT)
        self.y -= ROW_HEIGHT

    def total(self, label: str, totals: _Totals, shade: Color | None) -> None:
        self._ensure_room()
        c = self.c
        if shade is not None:
            c.setFillColor(shade)
            c.rect(
                MARGIN_X, self.y - ROW_HEIGHT, TABLE_RIGHT - MARGIN_X, ROW_HEIGHT, stroke=0, fill=1
            )
            c.setFillColor(BLACK)
        c.setLineWidth(0.3)
        c.line(MARGIN_X, self.y, TABLE_RIGHT, self.y)
        text = f"{label}　{totals.households} 户"
        self._cell(self._fit(text, SIZE.x - TOWNSHIP.x - 3 * mm), TOWNSHIP.anchor)
        self._right(self._number(totals.persons), SIZE)
        self._right(self._amount(totals.amount_fen), AMOUNT)
        self.y -= ROW_HEIGHT

    def note(self, text: str) -> None:
        self._ensure_room()
        self._cell(text, TOWNSHIP.anchor)
        self.y -= ROW_HEIGHT

    def closing(self, grand: _Totals) -> None:
        info, font = self.info, self.font
        width = TABLE_RIGHT - MARGIN_X
        lines = [
            f"合计：{grand.households} 户 {grand.persons} 人，"
            f"月救助金额 {format_fen(grand.amount_fen)} 元。",
            *wrap_text(NOT_SHOWN_NOTE, font, FONT_SIZE, width),
            *wrap_text(
                f"公示期间，如对公示对象有异议，请拨打监督举报电话 {info.hotline}，"
                f"或向{info.issuing_bureau}反映。",
                font,
                FONT_SIZE,
                width,
            ),
            f"公示单位：{info.issuing_bureau}　　{info.generated_on.year} 年 "
            f"{info.generated_on.month} 月 {info.generated_on.day} 日",
        ]
        needed = len(lines) + 1
        if self.y - needed * ROW_HEIGHT < BODY_BOTTOM:
            self._finish_page()
            self._start_page()
        self.y -= ROW_HEIGHT / 2
        for line in lines:
            self._cell(line, MARGIN_X)
            self.y -= ROW_HEIGHT

    def finish(self) -> None:
        self._finish_page()


def disclosure_title(info: DisclosureInfo) -> str:
    return f"{info.jurisdiction_name} {info.fund_name} {info.period} 救助对象公示"


def render_disclosure(
    info: DisclosureInfo,
    rows: Iterable[DisclosureRow],
    out: BinaryIO,
    *,
    font_name: str | None = None,
) -> None:
    """Write the disclosure PDF for rows sorted by township, village and name."""
    font = font_name or register_cjk_font()
    title = disclosure_title(info)
    doc_info = DocumentInfo(
        title=title,
        author=info.issuing_bureau,
        subject=f"{info.jurisdiction_code} {info.fund_name} {info.period} 公示",
        header=f"{title}　监督举报电话 {info.hotline}",
        generated_on=info.generated_on,
    )
    canvas = LedgerCanvas(out, info=doc_info, font_name=font)
    writer = _DisclosureWriter(canvas, info, title)
    writer.first_page()

    grand, town_totals, village_totals = _Totals(), _Totals(), _Totals()
    township: str | None = None
    village: str | None = None
    seen_townships: set[str] = set()
    seen_villages: set[tuple[str, str]] = set()
    for seq, row in enumerate(rows, start=1):
        if row.household_size < 1 or row.monthly_amount_fen < 0:
            raise ValueError(f"row {seq}: household size or amount out of range")
        if row.township != township or row.village != village:
            if village is not None and township is not None:
                writer.total(f"{village} 小计", village_totals, LIGHT_SHADE)
            if row.township != township:
                if township is not None:
                    writer.total(f"{township} 合计", town_totals, SHADE)
                if row.township in seen_townships:
                    raise ValueError(f"rows are not grouped by township: {row.township!r} again")
                seen_townships.add(row.township)
                town_totals = _Totals()
            if (row.township, row.village) in seen_villages:
                raise ValueError(f"rows are not grouped by village: {row.village!r} again")
            seen_villages.add((row.township, row.village))
            township, village = row.township, row.village
            village_totals = _Totals()
        writer.row(seq, row)
        grand.add(row.household_size, row.monthly_amount_fen)
        town_totals.add(row.household_size, row.monthly_amount_fen)
        village_totals.add(row.household_size, row.monthly_amount_fen)

    if township is not None and village is not None:
        writer.total(f"{village} 小计", village_totals, LIGHT_SHADE)
        writer.total(f"{township} 合计", town_totals, SHADE)
    else:
        writer.note("本期无救助对象。")
    writer.total("总计", grand, SHADE)
    writer.closing(grand)
    writer.finish()
    canvas.save()
