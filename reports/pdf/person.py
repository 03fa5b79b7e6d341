"""The person file (一人一档) as a PDF: the same sections as ``GET /people/{person_key}``, in the
embedded CJK font of the other reports. Names are printed as the reader's file has them;
accounts are in full only when the reader's file has them in full."""

from __future__ import annotations

from datetime import date
from typing import BinaryIO

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.platypus import BaseDocTemplate, Flowable, Frame, PageTemplate, Paragraph, Spacer

from ledger.people.models import PersonFile
from reports.pdf.audit import BODY_WIDTH, _esc, _Styles, _tables
from reports.pdf.base import (
    BODY_BOTTOM,
    BODY_TOP,
    CREATOR,
    MARGIN_X,
    DocumentInfo,
    canvas_maker,
    format_fen,
)
from reports.pdf.fonts import register_cjk_font

STATES = {"draft": "草稿", "sent": "在途", "paid": "已支付", "failed": "失败", "returned": "退回",
          "reissued": "已重发", "cancelled": "已作废"}  # fmt: skip
CHANNELS = {"hotline": "电话", "letter": "来信", "visit": "来访", "web": "网上"}
REVIEWS = {"information_check": "信息化核对", "home_visit": "入户调查"}
SOURCES = {"death": "死亡登记", "public_payroll": "财政供养", "staff_relative": "近亲属备案",
           "holding": "金融资产"}  # fmt: skip


def _section(styles: _Styles, title: str) -> Paragraph:
    return Paragraph(_esc(title), styles.h1)


def render_person(
    f: PersonFile, out: BinaryIO, *, generated_on: date, font_name: str | None = None
) -> None:
    font = font_name or register_cjk_font()
    styles = _Styles(font)
    title = f"一人一档：{'、'.join(f.names) or f.id_masked}"
    info = DocumentInfo(
        title=title,
        author="gd-assistance-ledger",
        subject=f"person {f.person_key[:16]}",
        header=f"{title}（{f.id_masked}）",
        generated_on=generated_on,
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
    )
    frame = Frame(MARGIN_X, BODY_BOTTOM, BODY_WIDTH, BODY_TOP - BODY_BOTTOM - 2 * mm,
                  leftPadding=0, rightPadding=0, topPadding=0, bottomPadding=0)  # fmt: skip
    doc.addPageTemplates(
        [PageTemplate(id="page", frames=[frame], onPage=lambda c, _d: c.draw_page_furniture())]
    )
    w = BODY_WIDTH
    story: list[Flowable] = [
        Paragraph(_esc(title), styles.title),
        Paragraph(
            f"身份证号：{_esc(f.id_masked)}　县区：{'、'.join(f.counties)}"
            f"　账号：{'全文' if f.full_accounts else '已遮蔽'}　生成日期：{generated_on.isoformat()}",
            styles.body,
        ),
        Spacer(1, 2 * mm),
        _section(styles, "一、花名册版本与家庭变更"),
        *_tables(
            styles,
            ("起始期", "县区", "资金", "家庭", "人口", "月发放", "账号", "状态"),
            [
                (
                    v.valid_from,
                    v.county,
                    v.fund,
                    v.household_id + ("（变更）" if v.household_changed else ""),
                    v.household_size,
                    format_fen(v.amount_fen),
                    v.account,
                    "在保" if v.active else "退出",
                )
                for v in f.roster
            ],
            [w * x for x in (0.09, 0.08, 0.2, 0.14, 0.06, 0.11, 0.22, 0.1)],
            numeric_from=4,
        ),
        _section(styles, "二、发放记录"),
        *_tables(
            styles,
            ("期间", "编号", "资金", "金额", "结果", "原因", "结算分录", "重发自"),
            [
                (
                    p.period,
                    p.reference,
                    p.fund,
                    format_fen(p.amount_fen),
                    STATES.get(p.state, p.state),
                    p.bank_reason or p.reason_code or "",
                    p.settling_entry_id or "",
                    p.reissue_of or "",
                )
                for p in f.payouts
            ],
            [w * x for x in (0.09, 0.12, 0.2, 0.11, 0.08, 0.2, 0.1, 0.1)],
            numeric_from=3,
        ),
        _section(styles, "三、审计发现"),
        *_tables(
            styles,
            ("编号", "规则", "期间", "说明"),
            [
                (x.id, x.rule, x.period or "", Paragraph(_esc(x.message), styles.cell))
                for x in f.findings
            ],
            [w * x for x in (0.08, 0.2, 0.1, 0.62)],
            numeric_from=4,
        ),
        _section(styles, "四、比对登记"),
        *_tables(
            styles,
            ("登记", "内容", "日期", "金额"),
            [
                (
                    SOURCES.get(m.source, m.source),
                    Paragraph(_esc(m.detail), styles.cell),
                    m.on.isoformat() if m.on else "",
                    "" if m.value_fen is None else format_fen(m.value_fen),
                )
                for m in f.matches
            ],
            [w * x for x in (0.15, 0.5, 0.15, 0.2)],
            numeric_from=3,
        ),
        _section(styles, "五、复核记录"),
        *_tables(
            styles,
            ("日期", "方式", "家庭", "结果", "复核人", "核对资产"),
            [
                (
                    r.reviewed_on.isoformat(),
                    REVIEWS.get(r.kind, r.kind),
                    r.household_id,
                    Paragraph(_esc(r.outcome), styles.cell),
                    r.reviewer,
                    "" if r.assets_fen is None else format_fen(r.assets_fen),
                )
                for r in f.reviews
            ],
            [w * x for x in (0.12, 0.14, 0.14, 0.32, 0.12, 0.16)],
            numeric_from=5,
        ),
        _section(styles, "六、投诉举报"),
        *_tables(
            styles,
            ("收到", "编号", "渠道", "内容", "期限", "办结"),
            [
                (
                    x.received_on.isoformat(),
                    x.reference,
                    CHANNELS.get(x.channel, x.channel),
                    Paragraph(_esc(x.content), styles.cell),
                    x.deadline.isoformat(),
                    x.closed_on.isoformat() if x.closed_on else "未办结",
                )
                for x in f.complaints
            ],
            [w * x for x in (0.12, 0.14, 0.08, 0.42, 0.12, 0.12)],
            numeric_from=6,
        ),
    ]
    doc.build(story, canvasmaker=canvas_maker(info, font))
