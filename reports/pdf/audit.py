"""The audit report (审计报告) of one jurisdiction and period.

Sections: fund flow from allocation to people (table and chart), the trial balance of each
fund, disbursement and reconciliation statistics by outcome and failure reason, suspense and
failed-payout ageing, every finding, and the journal's integrity with a QR code of the chain
head. Long lists are split into tables of a bounded number of rows whose header repeats on
every page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, BinaryIO

import qrcode
from reportlab.graphics.charts.barcharts import HorizontalBarChart
from reportlab.graphics.shapes import Drawing, Rect, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import (
    BaseDocTemplate,
    CondPageBreak,
    Flowable,
    Frame,
    KeepTogether,
    PageBreak,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

from ledger.figures import execution_rate, format_rate
from reports.pdf.base import (
    BODY_BOTTOM,
    BODY_TOP,
    CREATOR,
    MARGIN_X,
    PAGE_WIDTH,
    DocumentInfo,
    canvas_maker,
    format_fen,
)
from reports.pdf.fonts import register_cjk_font

AGEING_BUCKETS = ("0–30 天", "31–60 天", "61–90 天", ">90 天")
TABLE_CHUNK_ROWS = 250  # rows per Table: platypus splits long tables in quadratic time


@dataclass(frozen=True)
class FundFlowRow:
    """One fund's figures as ``ledger.figures`` defines them."""

    fund_name: str
    appropriated_fen: int  # 本级拨款
    received_fen: int  # 上级补助 (with any reallocation, net)
    available_fen: int  # 可用资金
    sent_below_fen: int  # 补助下级
    paid_fen: int  # 发放到人 (net of returns)
    spent_fen: int  # 支出 = 补助下级 + 发放到人
    returned_fen: int  # 退回 (failed and returned payouts back in special cash)
    balance_fen: int  # 结余 = 可用资金 − 支出
    execution_rate: Decimal | None  # a percentage such as Decimal("87.60")


@dataclass(frozen=True)
class SummaryRow:
    """A county or city below the report's jurisdiction, rolled up over every fund."""

    name: str
    code: str
    available_fen: int
    spent_fen: int
    paid_fen: int
    balance_fen: int
    execution_rate: Decimal | None
    findings: int
    open_findings: int


@dataclass(frozen=True)
class TrialBalanceLine:
    account: str
    debit_fen: int
    credit_fen: int


@dataclass(frozen=True)
class FundTrialBalance:
    fund_name: str
    lines: Sequence[TrialBalanceLine]


@dataclass(frozen=True)
class OutcomeStat:
    outcome: str  # 已支付 / 失败 / 退回 / 在途, as labelled by the caller
    count: int
    amount_fen: int
    counted: bool = True  # False: superseded, cancelled or draft, listed but never added


@dataclass(frozen=True)
class FailureReasonStat:
    reason: str
    count: int
    amount_fen: int


@dataclass(frozen=True)
class AgeingBucket:
    bucket: str  # one of AGEING_BUCKETS
    count: int
    amount_fen: int


@dataclass(frozen=True)
class AuditFinding:
    rule: str  # in Chinese
    severity: str
    status: str  # 未处理 / 已确认 / 已整改
    where: str
    message: str
    evidence: str  # in plain Chinese, amounts in yuan


@dataclass(frozen=True)
class FindingGroup:
    rule: str
    severity: str
    open: int
    acknowledged: int
    resolved: int
    findings: Sequence[AuditFinding]

    @property
    def count(self) -> int:
        return len(self.findings)


@dataclass(frozen=True)
class Acknowledgement:
    rule: str
    where: str
    by: str
    on: date | None
    reason: str


@dataclass(frozen=True)
class IntegrityStatus:
    chain_head_hex: str
    entry_count: int
    result: str  # the verification result in words, e.g. 通过 or the first broken link
    verified_at: datetime


@dataclass(frozen=True)
class ReviewCoverageRow:
    where: str
    households: int
    checked: int
    visited: int
    check_rate: Decimal | None
    visit_rate: Decimal | None


@dataclass(frozen=True)
class ComplaintSummary:
    received: int = 0
    closed: int = 0
    open: int = 0
    overdue: int = 0


@dataclass(frozen=True)
class PerformanceRow:
    rank: int
    where: str
    execution_rate: Decimal | None
    days_to_people: Decimal | None
    reissued_in_time_rate: Decimal | None
    findings_per_thousand: Decimal | None
    review_coverage: Decimal | None


@dataclass(frozen=True)
class AuditReportData:
    jurisdiction_code: str
    jurisdiction_name: str
    period: str
    generated_on: date
    issuing_bureau: str
    integrity: IntegrityStatus
    fund_flow: Sequence[FundFlowRow] = ()
    subtree: FundFlowRow | None = None  # a city's or the province's subtree, rolled up
    summary: Sequence[SummaryRow] = ()
    trial_balances: Sequence[FundTrialBalance] = ()
    outcomes: Sequence[OutcomeStat] = ()
    failure_reasons: Sequence[FailureReasonStat] = ()
    suspense_ageing: Sequence[AgeingBucket] = ()
    failed_ageing: Sequence[AgeingBucket] = ()
    finding_groups: Sequence[FindingGroup] = field(default_factory=tuple)
    acknowledgements: Sequence[Acknowledgement] = ()
    execution_rate_note: str = ""  # how the caller computed the execution rate, printed as is
    checkpoint: tuple[int, str] | None = None  # (tree size, root hex) of a signed checkpoint
    review_coverage: Sequence[ReviewCoverageRow] = ()
    complaints: ComplaintSummary = ComplaintSummary()
    performance: Sequence[PerformanceRow] = ()
    performance_year: int | None = None

    @property
    def finding_count(self) -> int:
        return sum(g.count for g in self.finding_groups)


BODY_WIDTH = PAGE_WIDTH - 2 * MARGIN_X
HEADER_BG = colors.Color(0.88, 0.88, 0.88)
TOTAL_BG = colors.Color(0.95, 0.95, 0.95)
BAR_COLOURS = (
    colors.Color(0.20, 0.45, 0.70),
    colors.Color(0.35, 0.60, 0.35),
    colors.Color(0.80, 0.45, 0.20),
    colors.Color(0.55, 0.55, 0.55),
)


class _Styles:
    def __init__(self, font: str) -> None:
        self.font = font
        self.title = ParagraphStyle("title", fontName=font, fontSize=16, leading=22, alignment=1)
        self.h1 = ParagraphStyle(
            "h1", fontName=font, fontSize=12, leading=16, spaceBefore=8, spaceAfter=4,
            keepWithNext=1,
        )  # fmt: skip
        # A heading never stays alone at the foot of a page: it goes with what follows.
        self.h2 = ParagraphStyle(
            "h2", fontName=font, fontSize=10, leading=14, spaceBefore=6, keepWithNext=1
        )
        self.note = ParagraphStyle(
            "note", fontName=font, fontSize=8, leading=10, wordWrap="CJK", spaceBefore=3
        )
        self.body = ParagraphStyle("body", fontName=font, fontSize=9, leading=13, wordWrap="CJK")
        self.cell = ParagraphStyle("cell", fontName=font, fontSize=8, leading=10, wordWrap="CJK")


def _drawing(width: float, height: float, font: str) -> Drawing:
    """A Drawing whose initial font is the embedded one (the default would be Helvetica)."""
    drawing = Drawing(width, height)
    drawing.initialFontName = font
    drawing.initialFontSize = 8
    return drawing


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _tables(
    styles: _Styles,
    header: Sequence[str],
    rows: Sequence[Sequence[Any]],
    widths: Sequence[float],
    *,
    numeric_from: int,
    total: Sequence[Any] | None = None,
) -> list[Flowable]:
    """Tables of at most TABLE_CHUNK_ROWS rows; columns from ``numeric_from`` align right."""
    if not rows:
        rows = [["（无）", *[""] * (len(header) - 1)]]
    body = list(rows)
    flowables: list[Flowable] = []
    for start in range(0, len(body), TABLE_CHUNK_ROWS):
        chunk = body[start : start + TABLE_CHUNK_ROWS]
        last = start + TABLE_CHUNK_ROWS >= len(body)
        data = [list(header), *[list(r) for r in chunk]]
        if last and total is not None:
            data.append(list(total))
        commands: list[tuple[Any, ...]] = [
            ("FONT", (0, 0), (-1, -1), styles.font, 8, 10),
            ("BACKGROUND", (0, 0), (-1, 0), HEADER_BG),
            ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
            ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ("ALIGN", (numeric_from, 1), (-1, -1), "RIGHT"),
            ("ALIGN", (0, 0), (-1, 0), "CENTER"),
            # Amounts of a province reach ten digits of yuan: a smaller face and tighter padding
            # keep "1,234,567,890.00" inside its column.
            ("FONT", (numeric_from, 1), (-1, -1), styles.font, 7, 9),
            ("LEFTPADDING", (numeric_from, 0), (-1, -1), 2),
            ("RIGHTPADDING", (numeric_from, 0), (-1, -1), 2),
        ]
        if last and total is not None:
            commands.append(("BACKGROUND", (0, -1), (-1, -1), TOTAL_BG))
        table = Table(data, colWidths=list(widths), repeatRows=1, hAlign="LEFT")
        table.setStyle(TableStyle(commands))
        flowables.append(table)
    return flowables


def _fund_flow(styles: _Styles, data: AuditReportData) -> list[Flowable]:
    header = (
        "资金项目",
        "本级拨款",
        "上级补助",
        "可用资金",
        "补助下级",
        "发放到人",
        "支出",
        "结余",
        "执行率",
    )
    flow = data.fund_flow

    def cells(r: FundFlowRow) -> list[Any]:
        return [
            format_fen(r.appropriated_fen),
            format_fen(r.received_fen),
            format_fen(r.available_fen),
            format_fen(r.sent_below_fen),
            format_fen(r.paid_fen),
            format_fen(r.spent_fen),
            format_fen(r.balance_fen),
            format_rate(r.execution_rate),
        ]

    rows = [(Paragraph(_esc(r.fund_name), styles.cell), *cells(r)) for r in flow]
    spent = sum(r.spent_fen for r in flow)
    available = sum(r.available_fen for r in flow)
    total = (
        "合计",
        *[format_fen(sum(getattr(r, k) for r in flow)) for k in _FLOW_AMOUNTS],
        format_rate(execution_rate(spent, available)),
    )
    name_w, rate_w = 24 * mm, 14 * mm
    amount_w = (BODY_WIDTH - name_w - rate_w) / 7
    widths = (name_w, *([amount_w] * 7), rate_w)
    out: list[Flowable] = [Paragraph("一、资金流向（本年截至报告日，单位：元）", styles.h1)]
    out += _tables(styles, header, rows, widths, numeric_from=1, total=total if flow else None)
    if data.execution_rate_note:
        out.append(Paragraph(_esc(data.execution_rate_note), styles.note))
    if flow:
        out.append(Spacer(1, 3 * mm))
        out.append(KeepTogether([_flow_chart(styles, data)]))
    return out


_FLOW_AMOUNTS = (
    "appropriated_fen",
    "received_fen",
    "available_fen",
    "sent_below_fen",
    "paid_fen",
    "spent_fen",
    "balance_fen",
)


def _summary(styles: _Styles, data: AuditReportData) -> list[Flowable]:
    """The first page: the figures an auditor signs, and for a city or the province one line per
    county or city below it."""
    flow = data.fund_flow
    available = sum(r.available_fen for r in flow)
    spent = sum(r.spent_fen for r in flow)
    paid = sum(r.paid_fen for r in flow)
    counted = [o for o in data.outcomes if o.counted]
    open_n = sum(g.open for g in data.finding_groups)
    ack_n = sum(g.acknowledged for g in data.finding_groups)
    res_n = sum(g.resolved for g in data.finding_groups)
    own = "本级" if data.subtree is not None else ""
    facts = [
        (f"{own}可用资金（元）", format_fen(available)),
        (f"{own}支出（元）", format_fen(spent)),
        (f"{own}预算执行率", format_rate(execution_rate(spent, available))),
        (f"{own}发放到人（元）", format_fen(paid)),
    ]
    if data.subtree is not None:
        sub = data.subtree
        facts += [
            ("全辖可用资金（元）", format_fen(sub.available_fen)),
            ("全辖支出（元）", format_fen(sub.spent_fen)),
            ("全辖预算执行率", format_rate(sub.execution_rate)),
            ("全辖发放到人（元）", format_fen(sub.paid_fen)),
        ]
    facts += [
        (
            "本期发放明细",
            f"{sum(o.count for o in counted):,} 笔，{format_fen(sum(o.amount_fen for o in counted))} 元"
            "（每人本期最后一次发放，含在途与退回待重发）",
        ),
        (
            "审计发现",
            f"共 {data.finding_count} 项：未处理 {open_n} 项，已确认 {ack_n} 项，已整改 {res_n} 项",
        ),
        ("账簿完整性", data.integrity.result),
    ]
    table = Table(
        [[k, Paragraph(_esc(v), styles.body)] for k, v in facts],
        colWidths=(40 * mm, BODY_WIDTH - 40 * mm),
        hAlign="LEFT",
    )
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, -1), styles.font, 9, 13),
                ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                ("BACKGROUND", (0, 0), (0, -1), HEADER_BG),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ]
        )
    )
    out: list[Flowable] = [Paragraph("审计摘要", styles.h1), table]
    if data.summary:
        out.append(Paragraph("下辖地区（含其下辖，全部资金项目，单位：元）", styles.h2))
        rows = [
            (
                Paragraph(_esc(r.name), styles.cell),
                format_fen(r.available_fen),
                format_fen(r.spent_fen),
                format_fen(r.paid_fen),
                format_fen(r.balance_fen),
                format_rate(r.execution_rate),
                f"{r.findings}（{r.open_findings}）",
            )
            for r in data.summary
        ]
        widths = (30 * mm, 27 * mm, 27 * mm, 27 * mm, 27 * mm, 16 * mm, BODY_WIDTH - 154 * mm)
        out += _tables(
            styles,
            ("地区", "可用资金", "支出", "发放到人", "结余", "执行率", "发现（未处理）"),
            rows,
            widths,
            numeric_from=1,
        )
    out.append(PageBreak())
    return out


def _flow_chart(styles: _Styles, data: AuditReportData) -> Drawing:
    """Where the money went: totals over all funds, in whole yuan."""
    flow = data.fund_flow
    labels = ["发放到人", "补助下级", "退回待重发", "专户结余"]
    fen = [
        sum(r.paid_fen for r in flow),
        sum(r.sent_below_fen for r in flow),
        sum(r.returned_fen for r in flow),
        sum(r.balance_fen for r in flow),
    ]
    yuan = [max(v, 0) // 100 for v in fen]
    width, height = BODY_WIDTH, 62 * mm
    drawing = _drawing(width, height, styles.font)
    drawing.add(
        String(0, height - 10, "资金去向（元，全部资金项目合计）", fontName=styles.font, fontSize=9)
    )
    chart = HorizontalBarChart()
    chart.x, chart.y = 22 * mm, 6 * mm
    chart.width, chart.height = width - 62 * mm, height - 22 * mm
    # Reversed so the first label is drawn on top.
    chart.data = [list(reversed(yuan))]
    chart.categoryAxis.categoryNames = list(reversed(labels))
    chart.categoryAxis.labels.fontName = styles.font
    chart.categoryAxis.labels.fontSize = 8
    chart.categoryAxis.labels.boxAnchor = "e"
    chart.valueAxis.valueMin = 0
    chart.valueAxis.labels.fontName = styles.font
    chart.valueAxis.labels.fontSize = 7
    chart.valueAxis.labelTextFormat = lambda v: f"{int(v):,}"
    chart.valueAxis.visibleGrid = True
    chart.valueAxis.gridStrokeColor = colors.Color(0.85, 0.85, 0.85)
    chart.barWidth = 8
    chart.bars.strokeWidth = 0
    for i, colour in enumerate(reversed(BAR_COLOURS)):
        chart.bars[(0, i)].fillColor = colour
    chart.barLabelFormat = lambda v: ""  # amounts are printed beside the chart instead
    if max(yuan) == 0:
        chart.valueAxis.valueMax = 1
    drawing.add(chart)
    # The exact amounts, in fen precision, as a legend on the right.
    legend_x = chart.x + chart.width + 6 * mm
    for i, (label, amount) in enumerate(zip(labels, fen, strict=True)):
        y = chart.y + chart.height - 10 - i * 12
        drawing.add(Rect(legend_x, y, 6, 6, fillColor=BAR_COLOURS[i], strokeWidth=0))
        drawing.add(
            String(
                legend_x + 9, y, f"{label} {format_fen(amount)}", fontName=styles.font, fontSize=7
            )
        )
    return drawing


def _trial_balances(styles: _Styles, data: AuditReportData) -> list[Flowable]:
    out: list[Flowable] = [Paragraph("二、分资金项目试算平衡表", styles.h1)]
    if not data.trial_balances:
        out.append(Paragraph("（无）", styles.body))
    widths = (BODY_WIDTH - 2 * 38 * mm, 38 * mm, 38 * mm)
    for tb in data.trial_balances:
        debit = sum(line.debit_fen for line in tb.lines)
        credit = sum(line.credit_fen for line in tb.lines)
        verdict = (
            "借贷平衡" if debit == credit else f"借贷不平衡，差额 {format_fen(debit - credit)} 元"
        )
        rows = [
            (line.account, format_fen(line.debit_fen), format_fen(line.credit_fen))
            for line in tb.lines
        ]
        block: list[Flowable] = [Paragraph(f"{_esc(tb.fund_name)}（{verdict}）", styles.h2)]
        block += _tables(
            styles,
            ("科目", "借方（元）", "贷方（元）"),
            rows,
            widths,
            numeric_from=1,
            total=("合计", format_fen(debit), format_fen(credit)),
        )
        out.append(KeepTogether(block) if len(rows) < 30 else block[0])
        if len(rows) >= 30:
            out += block[1:]
    return out


def _stat_rows(items: Sequence[OutcomeStat] | Sequence[FailureReasonStat]) -> list[tuple[str, ...]]:
    return [
        (
            item.outcome if isinstance(item, OutcomeStat) else item.reason,
            f"{item.count:,}",
            format_fen(item.amount_fen),
        )
        for item in items
    ]


def _disbursement(styles: _Styles, data: AuditReportData) -> list[Flowable]:
    widths = (BODY_WIDTH - 2 * 38 * mm, 38 * mm, 38 * mm)
    out: list[Flowable] = [Paragraph("三、发放与对账统计", styles.h1)]
    out.append(Paragraph("按发放结果", styles.h2))
    out += _tables(
        styles,
        ("发放结果", "笔数", "金额（元）"),
        _stat_rows([o for o in data.outcomes if o.counted]),
        widths,
        numeric_from=1,
        total=(
            "合计（每人本期最后一次发放）",
            f"{sum(o.count for o in data.outcomes if o.counted):,}",
            format_fen(sum(o.amount_fen for o in data.outcomes if o.counted)),
        ),
    )
    apart = [o for o in data.outcomes if not o.counted]
    if apart:
        out.append(
            Paragraph(
                "不计入合计："
                + "；".join(
                    f"{o.outcome} {o.count:,} 笔 {format_fen(o.amount_fen)} 元" for o in apart
                )
                + "。",
                styles.cell,
            )
        )
    out.append(Paragraph("失败原因", styles.h2))
    out += _tables(
        styles,
        ("失败原因", "笔数", "金额（元）"),
        _stat_rows(data.failure_reasons),
        widths,
        numeric_from=1,
        total=(
            "合计",
            f"{sum(r.count for r in data.failure_reasons):,}",
            format_fen(sum(r.amount_fen for r in data.failure_reasons)),
        )
        if data.failure_reasons
        else None,
    )
    return out


def _ageing(styles: _Styles, data: AuditReportData) -> list[Flowable]:
    widths = (BODY_WIDTH - 2 * 38 * mm, 38 * mm, 38 * mm)
    out: list[Flowable] = [Paragraph("四、账龄分析", styles.h1)]
    for title, buckets in (
        ("暂存款（未匹配的银行来款）", data.suspense_ageing),
        ("发放失败、退回待重发款项", data.failed_ageing),
    ):
        block: list[Flowable] = [Paragraph(title, styles.h2)]
        block += _tables(
            styles,
            ("账龄", "笔数", "金额（元）"),
            [(b.bucket, f"{b.count:,}", format_fen(b.amount_fen)) for b in buckets],
            widths,
            numeric_from=1,
            total=(
                "合计",
                f"{sum(b.count for b in buckets):,}",
                format_fen(sum(b.amount_fen for b in buckets)),
            ),
        )
        out.append(KeepTogether(block))
    return out


def _findings(styles: _Styles, data: AuditReportData) -> list[Flowable]:
    out: list[Flowable] = [
        CondPageBreak(40 * mm),
        Paragraph(f"五、审计发现（共 {data.finding_count} 项）", styles.h1),
    ]
    if not data.finding_groups:
        out.append(Paragraph("本期未发现问题。", styles.body))
        return out
    rows = [
        (
            Paragraph(_esc(g.rule), styles.cell),
            g.severity,
            f"{g.count:,}",
            f"{g.open:,}",
            f"{g.acknowledged:,}",
            f"{g.resolved:,}",
        )
        for g in data.finding_groups
    ]
    widths = (BODY_WIDTH - 5 * 22 * mm, *([22 * mm] * 5))
    out += _tables(
        styles,
        ("规则", "严重程度", "项数", "未处理", "已确认", "已整改"),
        rows,
        widths,
        numeric_from=2,
        total=(
            "合计",
            "",
            f"{data.finding_count:,}",
            *[f"{sum(getattr(g, k) for g in data.finding_groups):,}" for k in _STATUSES],
        ),
    )
    out.append(Paragraph("每项发现的说明与证据见附录。", styles.cell))
    out.append(Paragraph("已确认的警告", styles.h2))
    ack_rows = [
        (
            Paragraph(_esc(a.rule), styles.cell),
            Paragraph(_esc(a.where), styles.cell),
            Paragraph(_esc(a.by), styles.cell),
            a.on.isoformat() if a.on else "",
            Paragraph(_esc(a.reason), styles.cell),
        )
        for a in data.acknowledgements
    ]
    widths = (38 * mm, 34 * mm, 38 * mm, 20 * mm, BODY_WIDTH - 130 * mm)
    out += _tables(
        styles, ("规则", "地区与批次", "确认人", "日期", "理由"), ack_rows, widths, numeric_from=5
    )
    return out


_STATUSES = ("open", "acknowledged", "resolved")


def _appendix(styles: _Styles, data: AuditReportData) -> list[Flowable]:
    if not data.finding_groups:
        return []
    out: list[Flowable] = [PageBreak(), Paragraph("附录：审计发现明细", styles.h1)]
    widths = (8 * mm, 30 * mm, 14 * mm, BODY_WIDTH - 52 * mm - 50 * mm, 50 * mm)
    for g in data.finding_groups:
        out.append(Paragraph(f"{_esc(g.rule)}（{_esc(g.severity)}，{g.count} 项）", styles.h2))
        rows = [
            (
                str(i),
                Paragraph(_esc(f.where), styles.cell),
                f.status,
                Paragraph(_esc(f.message), styles.cell),
                Paragraph(_esc(f.evidence), styles.cell),
            )
            for i, f in enumerate(g.findings, start=1)
        ]
        out += _tables(
            styles, ("序号", "地区与批次", "状态", "说明", "证据"), rows, widths, numeric_from=5
        )
    return out


def qr_drawing(text: str, size: float, font: str) -> Drawing:
    """A vector QR code (error correction M), drawn module by module so it is deterministic."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4)
    code.add_data(text)
    code.make(fit=True)
    matrix = code.get_matrix()
    cell = size / len(matrix)
    drawing = _drawing(size, size, font)
    n = len(matrix)
    for r, line in enumerate(matrix):
        c = 0
        while c < n:
            if not line[c]:
                c += 1
                continue
            run = c
            while run < n and line[run]:
                run += 1
            drawing.add(
                Rect(
                    c * cell,
                    (n - 1 - r) * cell,
                    (run - c) * cell,
                    cell,
                    fillColor=colors.black,
                    strokeWidth=0,
                    strokeColor=None,
                )
            )
            c = run
    return drawing


def checkpoint_rows(checkpoint: tuple[int, str] | None, style: ParagraphStyle) -> list[list[Any]]:
    """The checkpoint (tree size, root) as table rows, when one was given."""
    if checkpoint is None:
        return []
    size, root = checkpoint
    wrapped = "<br/>".join(_esc(root[i : i + 32]) for i in range(0, len(root), 32))
    return [["检查点树大小", f"{size:,}"], ["检查点根", Paragraph(wrapped, style)]]


def qr_text(head: str, checkpoint: tuple[int, str] | None) -> str:
    """What the QR code holds: the chain head, and the checkpoint when there is one."""
    if checkpoint is None:
        return head
    return f"head={head};size={checkpoint[0]};root={checkpoint[1]}"


def _integrity(styles: _Styles, data: AuditReportData) -> list[Flowable]:
    integ = data.integrity
    head = integ.chain_head_hex
    wrapped_head = "<br/>".join(_esc(head[i : i + 32]) for i in range(0, len(head), 32))
    facts = Table(
        [
            ["链头哈希", Paragraph(wrapped_head, styles.cell)],
            ["分录数", f"{integ.entry_count:,}"],
            ["校验结果", Paragraph(_esc(integ.result), styles.cell)],
            ["校验时间", integ.verified_at.strftime("%Y-%m-%d %H:%M:%S")],
            *checkpoint_rows(data.checkpoint, styles.cell),
        ],
        colWidths=(22 * mm, 88 * mm),
        hAlign="LEFT",
    )
    facts.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, -1), styles.font, 8, 10),
                ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                ("BACKGROUND", (0, 0), (0, -1), HEADER_BG),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ]
        )
    )
    qr = qr_drawing(qr_text(head, data.checkpoint), 40 * mm, styles.font)
    layout = Table([[facts, qr]], colWidths=(116 * mm, 44 * mm), hAlign="LEFT")
    layout.setStyle(
        TableStyle(
            [("FONT", (0, 0), (-1, -1), styles.font, 8), ("VALIGN", (0, 0), (-1, -1), "TOP")]
        )
    )
    note = Paragraph(
        "二维码内容为链头哈希（十六进制，有检查点时另含检查点的树大小与根）。审计人员可用 verify 重新计算哈希链并与之比对，"
        "任何分录或发放明细被改动都会使链头不同。",
        styles.cell,
    )
    return [KeepTogether([Paragraph("六、账簿完整性", styles.h1), layout, Spacer(1, 2 * mm), note])]


def _pct(value: Decimal | None) -> str:
    return "—" if value is None else f"{value}%"


def _notice(styles: _Styles, data: AuditReportData) -> list[Flowable]:
    """Reviews (动态管理), complaints (举报核查) and performance (绩效评价)."""
    out: list[Flowable] = [
        CondPageBreak(50 * mm),
        Paragraph("七、动态管理、投诉举报与绩效评价", styles.h1),
    ]
    out.append(Paragraph("本期发放家庭的复核覆盖", styles.h2))
    out += _tables(
        styles,
        ("地区与资金", "发放户数", "半年内核对", "核对覆盖率", "一年内入户", "入户覆盖率"),
        [
            (
                Paragraph(_esc(r.where), styles.cell),
                f"{r.households:,}",
                f"{r.checked:,}",
                _pct(r.check_rate),
                f"{r.visited:,}",
                _pct(r.visit_rate),
            )
            for r in data.review_coverage
        ],
        (BODY_WIDTH - 5 * 24 * mm, *([24 * mm] * 5)),
        numeric_from=1,
    )
    c = data.complaints
    out.append(Paragraph("投诉举报（本年度截至报告日）", styles.h2))
    out += _tables(
        styles,
        ("收到", "已办结", "未办结", "超期未办结"),
        [(f"{c.received:,}", f"{c.closed:,}", f"{c.open:,}", f"{c.overdue:,}")],
        [BODY_WIDTH / 4] * 4,
        numeric_from=0,
    )
    year = f"{data.performance_year}年度" if data.performance_year else ""
    out.append(Paragraph(f"绩效评价{year}（按执行率排名）", styles.h2))
    out += _tables(
        styles,
        ("名次", "地区与资金", "执行率", "到人天数", "失败及时重发率", "每千笔发现", "核对覆盖率"),
        [
            (
                str(r.rank),
                Paragraph(_esc(r.where), styles.cell),
                _pct(r.execution_rate),
                "—" if r.days_to_people is None else str(r.days_to_people),
                _pct(r.reissued_in_time_rate),
                "—" if r.findings_per_thousand is None else str(r.findings_per_thousand),
                _pct(r.review_coverage),
            )
            for r in data.performance
        ],
        (12 * mm, BODY_WIDTH - 12 * mm - 5 * 24 * mm, *([24 * mm] * 5)),
        numeric_from=2,
    )
    out.append(
        Paragraph(
            "到人天数：收到上级补助至其后首次发放到人的平均天数；失败及时重发率：失败或退回的发放在规定天数内"
            "重新发放的比例；每千笔发现：本年度各期存档的审计发现数 ÷ 发放笔数 × 1000；核对覆盖率：本期发放家庭中"
            "半年内做过家庭经济状况核对的比例。",
            styles.cell,
        )
    )
    return out


def audit_title(data: AuditReportData) -> str:
    return f"{data.jurisdiction_name} {data.period} 社会救助资金审计报告"


def render_audit(data: AuditReportData, out: BinaryIO, *, font_name: str | None = None) -> None:
    """Write the audit report PDF."""
    font = font_name or register_cjk_font()
    styles = _Styles(font)
    title = audit_title(data)
    info = DocumentInfo(
        title=title,
        author=data.issuing_bureau,
        subject=f"{data.jurisdiction_code} {data.period} 审计报告",
        header=f"{title}（{data.jurisdiction_code}）",
        generated_on=data.generated_on,
    )
    doc = BaseDocTemplate(
        out,
        pagesize=A4,
        title=info.title,
        author=info.author,
        subject=info.subject,
        creator=CREATOR,
        invariant=1,
        initialFontName=font,
        leftMargin=MARGIN_X,
        rightMargin=MARGIN_X,
    )
    frame = Frame(
        MARGIN_X,
        BODY_BOTTOM,
        BODY_WIDTH,
        BODY_TOP - BODY_BOTTOM - 2 * mm,
        leftPadding=0,
        rightPadding=0,
        topPadding=0,
        bottomPadding=0,
    )
    doc.addPageTemplates(
        [PageTemplate(id="page", frames=[frame], onPage=lambda c, _d: c.draw_page_furniture())]
    )
    story: list[Flowable] = [
        Paragraph(_esc(title), styles.title),
        Paragraph(
            f"行政区划：{_esc(data.jurisdiction_name)}（{_esc(data.jurisdiction_code)}）"
            f"　期间：{_esc(data.period)}　出具单位：{_esc(data.issuing_bureau)}"
            f"　生成日期：{data.generated_on.isoformat()}",
            styles.body,
        ),
        Spacer(1, 2 * mm),
    ]
    story += _summary(styles, data)
    story += _fund_flow(styles, data)
    story += _trial_balances(styles, data)
    story += _disbursement(styles, data)
    story += _ageing(styles, data)
    story += _findings(styles, data)
    story += _integrity(styles, data)
    story += _notice(styles, data)
    story += _appendix(styles, data)
    doc.build(story, canvasmaker=canvas_maker(info, font))
