"""The public disclosure (救助对象公示) of one jurisdiction, fund and period, as posted.

Each village (村/社区) is its own page group: it starts on a new page under its own heading,
lists its households with their payout reference (发放编号, with which a person or an auditor
can later ask for a proof of the line), closes with its subtotal, the 公示期, the standard
(救助标准) of the period, the privacy note, the hotline and the issuing office with its seal
area, so each village's pages can be posted on its own board. A summary by township and
village with the grand total closes the document.

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
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.platypus import Paragraph

from ledger.pii import mask_name
from reports.pdf.audit import qr_drawing
from reports.pdf.base import (
    BODY_BOTTOM,
    BODY_TOP,
    MARGIN_X,
    PAGE_WIDTH,
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
    reference: str = ""  # the payout reference (发放编号), at most 12 ASCII characters


@dataclass(frozen=True)
class DisclosureInfo:
    jurisdiction_name: str
    jurisdiction_code: str
    fund_name: str
    period: str
    issuing_bureau: str
    hotline: str
    generated_on: date
    notice_from: date | None = None  # 公示期; from the report's date unless given
    notice_to: date | None = None
    standard_fen: int | None = None  # 救助标准 per person and month that applied in the period
    # A signed checkpoint (tree size, root hex) of the journal, printed and put in the QR code.
    checkpoint: tuple[int, str] | None = None
    only_village: tuple[str | None, str | None] | None = None  # a one-village file


NOT_SHOWN_NOTE = (
    "说明：为保护救助对象的个人隐私，本公示只列出经部分隐去的姓名、家庭保障人口和月救助金额，"
    "不公布身份证号码、家庭住址、银行账号、家庭收入和财产等信息。"
    "发放编号可用于向发放单位查询该笔发放的核验凭证。"
)

SHADE = Color(0.9, 0.9, 0.9)
LIGHT_SHADE = Color(0.96, 0.96, 0.96)
BLACK = Color(0, 0, 0)
GREY = Color(0.45, 0.45, 0.45)
TABLE_RIGHT = PAGE_WIDTH - MARGIN_X
SIZES = {False: 10.0, True: 14.0}  # points: normal and large print


@dataclass(frozen=True)
class _Column:
    title: str
    x: float
    width: float
    right: bool = False

    @property
    def anchor(self) -> float:
        return self.x + self.width - 1.5 * mm if self.right else self.x + 1.5 * mm


def _columns(large_print: bool = False) -> tuple[_Column, ...]:
    # Large print: the titles at 14 pt need a wider amount column (the name column gives).
    widths = (
        (16 * mm, 46 * mm, 26 * mm, 50 * mm, 42 * mm)
        if large_print
        else (18 * mm, 52 * mm, 28 * mm, 40 * mm, 42 * mm)
    )
    titles = ("序号", "姓名", "家庭人口", "月救助金额（元）", "发放编号")
    rights = (True, False, True, True, False)
    cols: list[_Column] = []
    x = MARGIN_X
    for title, width, right in zip(titles, widths, rights, strict=True):
        cols.append(_Column(title, x, width, right))
        x += width
    return tuple(cols)


@dataclass
class _Totals:
    households: int = 0
    persons: int = 0
    amount_fen: int = 0

    def add(self, persons: int, amount_fen: int) -> None:
        self.households += 1
        self.persons += persons
        self.amount_fen += amount_fen


def _day(day: date) -> str:
    return f"{day.year} 年 {day.month} 月 {day.day} 日"


class _DisclosureWriter:
    def __init__(
        self, canvas: LedgerCanvas, info: DisclosureInfo, title: str, *, large_print: bool
    ) -> None:
        self.c = canvas
        self.font = canvas.font_name
        self.info = info
        self.title = title
        self.size = SIZES[large_print]
        self.columns = _columns(large_print)
        self.seq, self.name, self.count, self.amount, self.reference = self.columns
        self.row_height = self.size * 0.58 * mm
        self.text_drop = self.row_height * 0.69
        self.y = BODY_TOP
        self.group = ""
        self.text = PageText(canvas, self.font, self.size)
        self.style = ParagraphStyle(
            "note", fontName=self.font, fontSize=self.size, leading=self.size * 1.45,
            wordWrap="CJK",
        )  # fmt: skip
        self._fitted: dict[tuple[str, float], str] = {}
        self._numbers: dict[int, tuple[str, float]] = {}
        self._amounts: dict[int, tuple[str, float]] = {}
        self._ellipsis_width = stringWidth("…", self.font, self.size)
        self._digit_width = {d: stringWidth(d, self.font, self.size) for d in "0123456789"}

    # -- text helpers -----------------------------------------------------------------------
    def _fit(self, text: str, width: float) -> str:
        """Cut text that would spill into the next column; cached per distinct string."""
        key = (text, width)
        fitted = self._fitted.get(key)
        if fitted is None:
            fitted = text
            if stringWidth(text, self.font, self.size) > width:
                while fitted and (
                    stringWidth(fitted, self.font, self.size) + self._ellipsis_width > width
                ):
                    fitted = fitted[:-1]
                fitted += "…"
            if len(self._fitted) < 20_000:
                self._fitted[key] = fitted
        return fitted

    def _fit_name(self, masked: str, width: float) -> str:
        # No glyph is wider than one em, so a short name needs no measuring.
        if len(masked) * self.size <= width:
            return masked
        return self._fit(masked, width)

    def _number(self, value: int) -> tuple[str, float]:
        found = self._numbers.get(value)
        if found is None:
            text = str(value)
            found = (text, stringWidth(text, self.font, self.size))
            if len(self._numbers) < 100_000:
                self._numbers[value] = found
        return found

    def _amount(self, fen: int) -> tuple[str, float]:
        found = self._amounts.get(fen)
        if found is None:
            text = format_fen(fen)
            found = (text, stringWidth(text, self.font, self.size))
            if len(self._amounts) < 100_000:
                self._amounts[fen] = found
        return found

    def _cell(self, text: str, x: float, *, cache: bool = True) -> None:
        self.text.draw(x, self.y - self.text_drop, text, cache=cache)

    def _sequence(self, seq: int) -> None:
        """Every sequence number is new: measure it by its digits and do not cache it."""
        text = str(seq)
        width = sum(self._digit_width[d] for d in text)
        self.text.draw(self.seq.anchor - width, self.y - self.text_drop, text, cache=False)

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
        c.rect(
            MARGIN_X, self.y - self.row_height, TABLE_RIGHT - MARGIN_X, self.row_height,
            stroke=0, fill=1,
        )  # fmt: skip
        c.setFillColor(BLACK)
        for col in self.columns:
            width = stringWidth(col.title, self.font, self.size)
            self._cell(col.title, col.anchor - width if col.right else col.anchor)
        self.y -= self.row_height

    def _group_heading(self, continued: bool) -> None:
        self._cell(self.group + ("（续）" if continued else ""), MARGIN_X)
        self.y -= self.row_height

    def _ensure_room(self, rows: int = 1) -> None:
        if self.y - rows * self.row_height < BODY_BOTTOM:
            self._finish_page()
            self._start_page()
            self._group_heading(continued=True)
            self._column_header()

    def _title_block(self) -> None:
        c, font, info = self.c, self.font, self.info
        size = 16.0
        while size > 9 and stringWidth(self.title, font, size) > TABLE_RIGHT - MARGIN_X:
            size -= 1
        c.setFont(font, size)
        c.drawCentredString((MARGIN_X + TABLE_RIGHT) / 2, self.y - 7 * mm, self.title)
        self.y -= 11 * mm
        notice = ""
        if info.notice_from and info.notice_to:
            notice = f"　公示期：{_day(info.notice_from)}至{_day(info.notice_to)}"
        standard = (
            f"救助标准：{format_fen(info.standard_fen)} 元/人·月"
            if info.standard_fen is not None
            else "救助标准：按当期标准"
        )
        for line in (
            f"资金项目：{info.fund_name}　期间：{info.period}{notice}",
            f"{standard}　公示单位：{info.issuing_bureau}　监督举报电话：{info.hotline}",
        ):
            self._paragraph(line)
        self.y -= self.row_height / 3

    def start_group(self, township: str, village: str) -> None:
        """A new village: a new page, the title, its heading and the column header. Where the
        file holds many villages, each is a page group with its own page count."""
        if self.y != BODY_TOP:
            self._finish_page()
        if self.info.only_village is None:
            self.c.start_page_group()
        self._start_page()
        self.group = f"{township}　{village}"
        self._title_block()
        self._group_heading(continued=False)
        self._column_header()

    # -- rows -------------------------------------------------------------------------------
    def row(self, seq: int, row: DisclosureRow) -> None:
        if self.y - self.row_height < BODY_BOTTOM:
            self._ensure_room()
        self._sequence(seq)
        self._cell(self._fit_name(mask_name(row.name), self.name.width - 3 * mm), self.name.anchor)
        self._right(self._number(row.household_size), self.count)
        self._right(self._amount(row.monthly_amount_fen), self.amount)
        if row.reference:
            self._cell(row.reference, self.reference.anchor, cache=False)
        self.y -= self.row_height

    def total(self, label: str, totals: _Totals, shade: Color | None) -> None:
        self._ensure_room()
        c = self.c
        if shade is not None:
            c.setFillColor(shade)
            c.rect(
                MARGIN_X, self.y - self.row_height, TABLE_RIGHT - MARGIN_X, self.row_height,
                stroke=0, fill=1,
            )  # fmt: skip
            c.setFillColor(BLACK)
        c.setLineWidth(0.3)
        c.line(MARGIN_X, self.y, TABLE_RIGHT, self.y)
        text = f"{label}　{totals.households} 户"
        self._cell(
            self._fit(text, self.count.x - self.name.x + self.name.width - 3 * mm),
            self.seq.x + 1.5 * mm,
        )
        self._right(self._number(totals.persons), self.count)
        self._right(self._amount(totals.amount_fen), self.amount)
        self.y -= self.row_height

    def _paragraph(self, text: str) -> None:
        """Prose wrapped by ReportLab's CJK line breaking, drawn at the current position."""
        self.text.flush()
        para = Paragraph(text, self.style)
        _, height = para.wrap(TABLE_RIGHT - MARGIN_X, self.y - BODY_BOTTOM)
        para.drawOn(self.c, MARGIN_X, self.y - height)
        self.y -= height

    def closing(self, totals: _Totals, what: str) -> None:
        """The text under a list: totals, notes, hotline, and the issuing office's seal area."""
        info = self.info
        lines = [
            f"{what}：{totals.households} 户 {totals.persons} 人，"
            f"月救助金额 {format_fen(totals.amount_fen)} 元。",
            NOT_SHOWN_NOTE,
            f"公示期间，如对公示对象有异议，请拨打监督举报电话 {info.hotline}，"
            f"或向{info.issuing_bureau}反映。",
        ]
        if info.checkpoint is not None:
            size, root = info.checkpoint
            lines.append(f"账簿检查点：树大小 {size:,}，根 {root}（见下方二维码）")
        seal_height = 42 * mm
        needed = len(lines) * 2.4 * self.style.leading + seal_height
        if self.y - needed < BODY_BOTTOM:
            self._finish_page()
            self._start_page()
        self.y -= self.row_height / 2
        for line in lines:
            self._paragraph(line)
        self._seal_area(seal_height)

    def _seal_area(self, height: float) -> None:
        """公示单位 and the date on the right with a dashed circle where the seal goes."""
        c, info = self.c, self.info
        self.text.flush()
        top = self.y - 4 * mm
        x = TABLE_RIGHT - 70 * mm
        c.setFont(self.font, self.size)
        c.drawString(x, top - 6 * mm, f"公示单位（盖章）：{info.issuing_bureau}")
        c.drawString(x, top - 6 * mm - self.style.leading, f"日期：{_day(info.generated_on)}")
        c.saveState()
        c.setStrokeColor(GREY)
        c.setDash(2, 2)
        c.circle(x + 35 * mm, top - 22 * mm, 17 * mm, stroke=1, fill=0)
        c.restoreState()
        if info.checkpoint is not None:
            size, root = info.checkpoint
            qr = qr_drawing(f"size={size};root={root}", 30 * mm, self.font)
            qr.drawOn(c, MARGIN_X, top - 34 * mm)
        self.y = top - height

    def summary(self, villages: list[tuple[str, _Totals]], grand: _Totals) -> None:
        """The closing page group: every village's subtotal and the grand total."""
        if self.y != BODY_TOP:
            self._finish_page()
        self.c.end_page_group()
        self._start_page()
        self.group = "汇总"
        self._title_block()
        self._group_heading(continued=False)
        for label, totals in villages:
            self.total(label, totals, None)
        if not villages:
            self._cell("本期无救助对象。", MARGIN_X)
            self.y -= self.row_height
        self.total("总计", grand, SHADE)
        self.closing(grand, "合计")

    def finish(self) -> None:
        self._finish_page()


def disclosure_title(info: DisclosureInfo) -> str:
    return f"{info.jurisdiction_name}{info.fund_name}救助对象公示（{info.period}）"


def render_disclosure(
    info: DisclosureInfo,
    rows: Iterable[DisclosureRow],
    out: BinaryIO,
    *,
    font_name: str | None = None,
    large_print: bool = False,
) -> dict[str, int]:
    """Write the disclosure PDF for rows sorted by township, village and name; returns its
    totals (households, persons, amount_fen), counted once as the rows were printed."""
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
    writer = _DisclosureWriter(canvas, info, title, large_print=large_print)

    grand, village_totals = _Totals(), _Totals()
    township: str | None = None
    village: str | None = None
    done: list[tuple[str, _Totals]] = []
    seen_townships: set[str] = set()
    seen_villages: set[tuple[str, str]] = set()
    seq_in_village = 0
    for seq, row in enumerate(rows, start=1):
        if row.household_size < 1 or row.monthly_amount_fen < 0:
            raise ValueError(f"row {seq}: household size or amount out of range")
        if row.township != township or row.village != village:
            if village is not None and township is not None:
                writer.total(f"{village} 小计", village_totals, LIGHT_SHADE)
                writer.closing(village_totals, f"{township}{village}合计")
                done.append((f"{township} {village}", village_totals))
            if row.township != township:
                if row.township in seen_townships:
                    raise ValueError(f"rows are not grouped by township: {row.township!r} again")
                seen_townships.add(row.township)
            if (row.township, row.village) in seen_villages:
                raise ValueError(f"rows are not grouped by village: {row.village!r} again")
            seen_villages.add((row.township, row.village))
            township, village = row.township, row.village
            village_totals = _Totals()
            writer.start_group(township, village)
            seq_in_village = 0
        seq_in_village += 1
        writer.row(seq_in_village, row)
        grand.add(row.household_size, row.monthly_amount_fen)
        village_totals.add(row.household_size, row.monthly_amount_fen)

    if township is not None and village is not None:
        writer.total(f"{village} 小计", village_totals, LIGHT_SHADE)
        writer.closing(village_totals, f"{township}{village}合计")
        done.append((f"{township} {village}", village_totals))
    if info.only_village is None or not done:
        writer.summary(done, grand)
    writer.finish()
    canvas.save()
    return {
        "households": grand.households,
        "persons": grand.persons,
        "amount_fen": grand.amount_fen,
    }
