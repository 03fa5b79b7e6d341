"""Deterministic document plumbing shared by every PDF report.

* A4, ``invariant=1`` and a creation date taken from the report's own date, so the same input
  gives byte-identical files.
* Title, author (the issuing bureau), subject and creator in the document information.
* A header line and a ``第 n 页 / 共 N 页`` footer on every page. The total is a form XObject
  defined when the document is saved, so reports stream in one pass without knowing their
  length in advance (ReportLab's way of a late page count: ``doForm`` may name a form that is
  only defined before ``save``).
* Page groups (a village of the disclosure, posted on its own board): inside a group the
  footer counts the group's pages, ``第 n 页 / 共 N 页``, with the group's own late-defined
  form closed when the group ends, and the whole file's count beside it.
* The CJK TrueType font is the initial font, so no non-embedded standard font is referenced.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, BinaryIO

from reportlab.lib.pagesizes import A4
from reportlab.lib.rl_accel import escapePDF, fp_str
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from reports.pdf.fonts import register_cjk_font

PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN_X = 15 * mm
MARGIN_TOP = 15 * mm
MARGIN_BOTTOM = 15 * mm
HEADER_SIZE = 8
FOOTER_SIZE = 8
CREATOR = "gd-assistance-ledger"
PAGE_COUNT_FORM = "ledgerPageCount"

# The top of the body: below the header line.
BODY_TOP = PAGE_HEIGHT - MARGIN_TOP - 4 * mm
# The bottom of the body: above the footer.
BODY_BOTTOM = MARGIN_BOTTOM + 4 * mm


def format_fen(fen: int) -> str:
    """Format integer fen as yuan with thousands separators: 123450 → '1,234.50'."""
    sign = "-" if fen < 0 else ""
    yuan, cents = divmod(abs(fen), 100)
    return f"{sign}{yuan:,}.{cents:02d}"


@dataclass(frozen=True)
class DocumentInfo:
    title: str
    author: str
    subject: str
    header: str
    generated_on: date


def _pdf_date(day: date) -> Callable[..., str]:
    stamp = f"D:{day:%Y%m%d}000000+08'00'"

    def formatter(*_: int) -> str:
        return stamp

    return formatter


class LedgerCanvas(Canvas):
    """A canvas that carries the document information and draws the page furniture."""

    def __init__(
        self,
        out: BinaryIO,
        *,
        info: DocumentInfo,
        font_name: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.font_name = font_name or register_cjk_font()
        kwargs.pop("invariant", None)
        kwargs.pop("initialFontName", None)
        kwargs.pop("pageCompression", None)
        kwargs.setdefault("pagesize", A4)
        super().__init__(
            out,
            invariant=1,
            pageCompression=1,
            initialFontName=self.font_name,
            **kwargs,
        )
        self.info = info
        self.setDateFormatter(_pdf_date(info.generated_on))
        self.apply_metadata()
        self._group: int | None = None  # the open page group's index
        self._group_first = 0  # its first page
        self._groups = 0

    def apply_metadata(self) -> None:
        self.setTitle(self.info.title)
        self.setAuthor(self.info.author)
        self.setSubject(self.info.subject)
        self.setCreator(CREATOR)
        self.setKeywords("")

    def draw_page_furniture(self) -> None:
        """Draw the header line and the page footer on the current page."""
        font = self.font_name
        self.saveState()
        self.setFont(font, HEADER_SIZE)
        top = PAGE_HEIGHT - MARGIN_TOP
        self.drawString(MARGIN_X, top, self.info.header)
        self.drawRightString(PAGE_WIDTH - MARGIN_X, top, self.info.author)
        self.setLineWidth(0.5)
        self.line(MARGIN_X, top - 1.5 * mm, PAGE_WIDTH - MARGIN_X, top - 1.5 * mm)

        bottom = MARGIN_BOTTOM
        self.line(MARGIN_X, bottom + 3 * mm, PAGE_WIDTH - MARGIN_X, bottom + 3 * mm)
        self.setFont(font, FOOTER_SIZE)
        self.drawString(MARGIN_X, bottom, f"生成日期 {self.info.generated_on.isoformat()}")
        page = self.getPageNumber()
        if self._group is None:
            self._page_of(f"第 {page} 页 / ", PAGE_COUNT_FORM, PAGE_WIDTH / 2 - 10 * mm)
        else:
            in_group = page - self._group_first + 1
            self._page_of(
                f"第 {in_group} 页 / ", self._group_form(self._group), PAGE_WIDTH / 2 - 10 * mm
            )
            self._page_of(f"全文第 {page} 页 / ", PAGE_COUNT_FORM, PAGE_WIDTH - MARGIN_X - 38 * mm)
        self.restoreState()

    def _page_of(self, prefix: str, form: str, x: float) -> None:
        """``prefix`` then the late-defined count ``form`` at x on the footer line."""
        self.saveState()
        self.drawString(x, MARGIN_BOTTOM, prefix)
        self.translate(x + stringWidth(prefix, self.font_name, FOOTER_SIZE), MARGIN_BOTTOM)
        self.doForm(form)
        self.restoreState()

    @staticmethod
    def _group_form(index: int) -> str:
        return f"ledgerGroupCount{index}"

    def start_page_group(self) -> None:
        """From the next page drawn, the footer counts this group's pages."""
        self.end_page_group()
        self._group = self._groups
        self._groups += 1
        self._group_first = self.getPageNumber()

    def end_page_group(self) -> None:
        """Close the open group (after its last page was shown): its count is now known."""
        if self._group is None:
            return
        count = self.getPageNumber() - self._group_first
        self._count_form(self._group_form(self._group), count)
        self._group = None

    def _count_form(self, name: str, total: int) -> None:
        # The box reaches below the baseline so descenders are not clipped.
        self.beginForm(name, lowerx=0, lowery=-FOOTER_SIZE, upperx=40 * mm, uppery=FOOTER_SIZE * 2)
        self.setFont(self.font_name, FOOTER_SIZE)
        self.drawString(0, 0, f"共 {total} 页")
        self.endForm()

    def _define_page_count(self) -> None:
        self._count_form(PAGE_COUNT_FORM, self.getPageNumber() - 1)

    def save(self) -> None:
        if len(self._code):
            self.showPage()
        self.end_page_group()
        self._define_page_count()
        super().save()


class PageText:
    """Text in one TrueType font and size, collected as PDF operators and drawn in one block.

    ReportLab's text object splits every string into font subsets and measures it again each
    time. A long report prints the same place names, masked names and amounts thousands of
    times, so each distinct string is encoded once per document and reused: a character's
    subset is fixed for the life of a document, so a cached encoding stays valid.
    """

    _CACHE_LIMIT = 200_000

    def __init__(self, canvas: LedgerCanvas, font_name: str, size: float) -> None:
        font = pdfmetrics.getFont(font_name)
        if not isinstance(font, TTFont):
            raise TypeError(f"{font_name} is not a TrueType font")
        self._canvas = canvas
        self._font = font
        self._doc = canvas._doc  # subsets are allocated per document
        self._select = f" {fp_str(size)} Tf"
        self._subset_ops: dict[int, str] = {}
        self._encoded: dict[str, tuple[int, str, int]] = {}
        self._ops: list[str] = []
        self._subset = -1

    def _select_subset(self, subset: int) -> str:
        op = self._subset_ops.get(subset)
        if op is None:
            op = self._font.getSubsetInternalName(subset, self._doc) + self._select
            self._subset_ops[subset] = op
        return op

    def _encode(self, text: str) -> tuple[int, str, int]:
        """(first subset, operators, last subset); the first subset is selected by the caller."""
        ops: list[str] = []
        first = current = -1
        for subset, chunk in self._font.splitString(text, self._doc):
            if subset != current:
                if current == -1:
                    first = subset
                else:
                    ops.append(self._select_subset(subset))
                current = subset
            ops.append(f"({escapePDF(chunk)}) Tj")
        return first, " ".join(ops), current

    def draw(self, x: float, y: float, text: str, *, cache: bool = True) -> None:
        """Draw ``text`` with its baseline starting at (x, y); ``cache=False`` for one-off text."""
        encoded = self._encoded.get(text) if cache else None
        if encoded is None:
            encoded = self._encode(text)
            if cache and len(self._encoded) < self._CACHE_LIMIT:
                self._encoded[text] = encoded
        first, body, last = encoded
        if first == -1:
            return
        ops = self._ops
        ops.append(f"1 0 0 1 {fp_str(x, y)} Tm")
        if first != self._subset:
            ops.append(self._select_subset(first))
        ops.append(body)
        self._subset = last

    def flush(self) -> None:
        """Write the collected text to the current page (call before ``showPage``)."""
        if self._ops:
            self._canvas.addLiteral("BT " + " ".join(self._ops) + " ET")
            self._ops.clear()
        self._subset = -1


def canvas_maker(info: DocumentInfo, font_name: str) -> Callable[..., LedgerCanvas]:
    """A ``canvasmaker`` for platypus document templates."""

    def make(filename: BinaryIO, **kwargs: Any) -> LedgerCanvas:
        return LedgerCanvas(filename, info=info, font_name=font_name, **kwargs)

    return make
