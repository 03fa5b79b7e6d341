"""What the reports print, read from the books and the payout subledger. Nothing is written.

Every figure comes from ``ledger.figures`` (the one definition of the execution rate, paid,
sent below and balances) and is read inside the report's one snapshot (``reports.service``).
A report's date is ``Scope.as_of``: the period's end, or the books' latest date if earlier.

Disclosure (公示): the payouts of the period in state ``sent`` or ``paid`` — the people being
paid this month. A draft line was never released; a failed or returned line was not paid, and
its reissue (a new attempt of the same fund and period) is listed in its place, so each person
appears once.

Audit (审计): fund flow per fund over the fiscal year up to the report's date, for the
jurisdiction's own books; for a city or the province a summary per county or city below it,
rolled up (transfers inside a subtree cancel).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from ledger.config import get_settings
from ledger.domain import ACCOUNT_LABELS, AccountKind
from ledger.figures import RATE_NOTE, FlowFigures, flow_figures, payout_outcomes, roll_up
from ledger.journal import service as journal
from ledger.journal.verify import verify
from ledger.jurisdictions.catalog import level_of
from ledger.jurisdictions.service import get_jurisdiction
from ledger.pii import mask_name
from reports.exports import Cell, Fen, Table
from reports.findings import (
    STATUS_LABELS,
    ReportFinding,
    all_findings,
    evidence_text,
    group_by_rule,
)
from reports.pdf.audit import (
    AGEING_BUCKETS,
    Acknowledgement,
    AgeingBucket,
    AuditFinding,
    AuditReportData,
    ComplaintSummary,
    FailureReasonStat,
    FindingGroup,
    FundFlowRow,
    FundTrialBalance,
    IntegrityStatus,
    OutcomeStat,
    PerformanceRow,
    ReviewCoverageRow,
    SummaryRow,
    TrialBalanceLine,
)
from reports.pdf.disclosure import DisclosureInfo, DisclosureRow
from reports.performance import complaint_counts, performance, ranking, review_coverage
from reports.scope import Scope

DISCLOSED_STATES = ("sent", "paid")
STATE_LABELS = {
    "sent": "在途（已发送银行）",
    "paid": "已支付",
    "failed": "失败（退票）待重发",
    "returned": "支付后退回待重发",
    "reissued": "失败后已另行重发（被新发放取代）",
    "draft": "草稿（未发放）",
    "cancelled": "已作废",
}
REASON_LABELS = {
    "account_invalid": "账号无效",
    "account_closed": "账户已销户",
    "account_blocked": "账户冻结或止付",
    "name_mismatch": "户名不符",
    "id_mismatch": "证件号不符",
    "beneficiary_deceased": "收款人已死亡",
    "limit": "超限额",
    "routing": "路由或行号错误",
    "duplicate": "重复支付",
    "format": "格式错误",
    "unspecified": "未说明",
}
AGEING_EDGES = (30, 60, 90)  # days; matches reports.pdf.audit.AGEING_BUCKETS
NOTICE_DAYS = 7  # 公示期, the first and the last day included


def bureau_name(session: Session, jurisdiction: str, kind: str) -> str:
    """The issuing bureau, named from the division table: 荔湾区民政局, 广东省审计厅."""
    name = str(get_jurisdiction(session, jurisdiction)["name"])
    suffix = {"civil_affairs": ("民政局", "民政厅"), "audit": ("审计局", "审计厅")}[kind]
    return name + suffix[1 if level_of(jurisdiction) == 1 else 0]


# ---- disclosure ----------------------------------------------------------------------------

_DISCLOSED = (
    "FROM payout p WHERE p.county_code LIKE :pattern AND p.fund_code = :fund "
    "AND p.period = :period AND p.state IN ('sent', 'paid') "
    "AND (CAST(:township AS text) IS NULL OR p.township IS NOT DISTINCT FROM :township) "
    "AND (CAST(:village AS text) IS NULL OR p.village IS NOT DISTINCT FROM :village)"
)


@dataclass(frozen=True)
class Village:
    """One village (村/社区) of the disclosure: the unit a notice is posted in."""

    township: str | None
    village: str | None


def _disclosed_params(scope: Scope, fund: str, village: Village | None) -> dict[str, Any]:
    return {
        "pattern": scope.pattern,
        "fund": fund,
        "period": scope.period,
        "township": village.township if village else None,
        "village": village.village if village else None,
    }


def villages(session: Session, scope: Scope, fund: str) -> list[Village]:
    """The villages with disclosed lines, in print order."""
    rows = session.execute(
        text(
            "SELECT DISTINCT p.township, p.village "
            f"{_DISCLOSED} ORDER BY p.township NULLS FIRST, p.village NULLS FIRST"
        ),
        _disclosed_params(scope, fund, None),
    ).all()
    return [Village(r.township, r.village) for r in rows]


def applied_standard(session: Session, scope: Scope, fund: str) -> int | None:
    """The monthly standard per person (救助标准) of the period: the higher of the county's and
    its city's, as the batch checks apply it; None where no standard is registered."""
    if level_of(scope.jurisdiction) != 3:
        return None
    city = scope.jurisdiction[:4] + "00"
    value = session.execute(
        text(
            "SELECT max(s.fen) FROM (SELECT (SELECT monthly_fen FROM benefit_standard "
            "  WHERE jurisdiction_code = j.code AND fund_code = :f AND effective_from <= :p "
            "  ORDER BY effective_from DESC, id DESC LIMIT 1) AS fen "
            "  FROM jurisdiction j WHERE j.code IN (:c, :city)) s"
        ),
        {"f": fund, "p": scope.period, "c": scope.jurisdiction, "city": city},
    ).scalar()
    return None if value is None else int(value)


def disclosure_info(
    session: Session,
    scope: Scope,
    fund: str,
    *,
    notice_from: date | None = None,
    notice_days: int = NOTICE_DAYS,
    village: Village | None = None,
    checkpoint: tuple[int, str] | None = None,
) -> DisclosureInfo:
    jur = get_jurisdiction(session, scope.jurisdiction)
    fund_name = session.execute(text("SELECT name FROM fund WHERE code = :f"), {"f": fund}).scalar()
    start = notice_from or scope.as_of
    return DisclosureInfo(
        jurisdiction_name=str(jur["name"]),
        jurisdiction_code=scope.jurisdiction,
        fund_name=str(fund_name or fund),
        period=scope.label,
        issuing_bureau=bureau_name(session, scope.jurisdiction, "civil_affairs"),
        hotline=get_settings().complaint_hotline,
        generated_on=scope.as_of,
        notice_from=start,
        notice_to=start + timedelta(days=notice_days - 1),
        standard_fen=applied_standard(session, scope, fund),
        checkpoint=checkpoint,
        only_village=(village.township, village.village) if village else None,
    )


def disclosure_rows(
    session: Session, scope: Scope, fund: str, village: Village | None = None
) -> Iterator[DisclosureRow]:
    """The lines of the disclosure, streamed from a server-side cursor in print order.

    Only the columns the public may see are selected: no ID, account, address, income or assets.
    """
    result = session.execute(
        text(
            "SELECT p.township, p.village, p.payee_name, p.household_size, p.amount_fen, "
            f"p.reference {_DISCLOSED} "
            "ORDER BY p.township NULLS FIRST, p.village NULLS FIRST, p.payee_name, p.id"
        ).execution_options(yield_per=5000),
        _disclosed_params(scope, fund, village),
    )
    for r in result:
        yield DisclosureRow(r[0] or "（未填）", r[1] or "（未填）", r[2], r[3], r[4], r[5])


# ---- payout export -------------------------------------------------------------------------

PAYOUT_HEADER = ("发放编号 reference", "县区 county", "乡镇（街道） township", "村（社区） village",
                 "资金 fund", "期间 period", "批次 batch", "姓名 name (masked)",
                 "家庭人口 household size", "金额（元） amount", "状态 state", "失败原因 reason",
                 "重发自 reissue of", "最后分录 last entry")  # fmt: skip


def payout_table(session: Session, scope: Scope, fund: str | None) -> Table:
    """Every payout line of the period in scope (of one fund, or all), masked: the name as the
    disclosure shows it, no ID number, no account. Streamed from a server-side cursor."""
    result = session.execute(
        text(
            "SELECT p.reference, p.county_code, p.township, p.village, p.fund_code, p.period, "
            "p.batch_id, p.payee_name, p.household_size, p.amount_fen, p.state, p.reason_code, "
            "o.reference AS reissue_of, p.last_entry_id FROM payout p "
            "LEFT JOIN payout o ON o.id = p.reissue_of "
            "WHERE p.county_code LIKE :pattern AND p.period = :period "
            "AND (CAST(:fund AS text) IS NULL OR p.fund_code = :fund) "
            "ORDER BY p.county_code, p.fund_code, p.township, p.village, p.batch_id, p.seq"
        ).execution_options(yield_per=5000),
        {"pattern": scope.pattern, "period": scope.period, "fund": fund},
    )

    def rows() -> Iterator[tuple[Cell, ...]]:
        for r in result:
            yield (
                r.reference,
                r.county_code.strip(),
                r.township or None,
                r.village or None,
                r.fund_code,
                r.period,
                r.batch_id,
                mask_name(r.payee_name),
                r.household_size,
                Fen(int(r.amount_fen)),
                STATE_LABELS.get(r.state, r.state),
                REASON_LABELS.get(r.reason_code, r.reason_code) if r.reason_code else None,
                r.reissue_of,
                r.last_entry_id,
            )

    return Table("发放明细", PAYOUT_HEADER, rows())


# ---- audit ---------------------------------------------------------------------------------


def fund_flow(session: Session, scope: Scope, *, rollup: bool) -> list[tuple[str, FlowFigures]]:
    """(fund name, figures) per fund of the jurisdiction's own books, or rolled up over its
    subtree, for the fiscal year up to the report's date."""
    names = _fund_names(session)
    own = flow_figures(session, pattern=scope.pattern, start=scope.year_start, end=scope.as_of)
    by_fund: dict[str, tuple[FlowFigures, list[FlowFigures]]] = {}
    for (j, fund), fig in own.items():
        root, below = by_fund.setdefault(fund, (FlowFigures(), []))
        if j == scope.jurisdiction:
            by_fund[fund] = (fig, below)
        elif rollup:
            below.append(fig)
    out = []
    for fund in sorted(by_fund):
        root, below = by_fund[fund]
        fig = roll_up(root, below) if rollup else root
        if not fig.is_empty():
            out.append((names.get(fund, fund), fig))
    return out


def _fund_names(session: Session) -> dict[str, str]:
    return dict(session.execute(text("SELECT code, name FROM fund")).tuples().all())


def _flow_row(name: str, fig: FlowFigures) -> FundFlowRow:
    return FundFlowRow(
        fund_name=name,
        appropriated_fen=fig.own_appropriation,
        received_fen=fig.received_from_above + fig.reallocated_in - fig.reallocated_out,
        available_fen=fig.available,
        sent_below_fen=fig.sent_below,
        paid_fen=fig.paid_to_people,
        spent_fen=fig.spent,
        returned_fen=fig.returned,
        balance_fen=fig.balance,
        execution_rate=fig.execution_rate,
    )


def summary_rows(
    session: Session, scope: Scope, found: Sequence[ReportFinding]
) -> list[SummaryRow]:
    """For a city or the province: each county or city directly below, rolled up over its own
    subtree and every fund, with its findings."""
    if not scope.rolls_up:
        return []
    children = session.execute(
        text("SELECT code, name FROM jurisdiction WHERE parent_code = :j ORDER BY code"),
        {"j": scope.jurisdiction},
    ).all()
    figures = flow_figures(session, pattern=scope.pattern, start=scope.year_start, end=scope.as_of)
    out = []
    for child in children:
        code = child.code.strip()
        pattern = Scope(code, scope.period).pattern.rstrip("%")
        root, below = FlowFigures(), []
        for (j, _fund), fig in sorted(figures.items()):
            if j == code:
                root = root + fig
            elif j.startswith(pattern) and pattern != code:
                below.append(fig)
        fig = roll_up(root, below)
        mine = [f for f in found if f.jurisdiction.startswith(pattern)]
        if fig.is_empty() and not mine:
            continue
        out.append(
            SummaryRow(
                name=str(child.name),
                code=code,
                available_fen=fig.available,
                spent_fen=fig.spent,
                paid_fen=fig.paid_to_people,
                balance_fen=fig.balance,
                execution_rate=fig.execution_rate,
                findings=len(mine),
                open_findings=sum(1 for f in mine if f.status == "open"),
            )
        )
    return out


def trial_balances(session: Session, scope: Scope, *, rollup: bool) -> list[FundTrialBalance]:
    names: dict[str, str] = dict(
        session.execute(text("SELECT code, name FROM fund")).tuples().all()
    )
    tb = journal.trial_balance(
        session, jurisdiction=scope.jurisdiction, rollup=rollup, as_of=scope.as_of
    )
    suffix = "（辖区汇总）" if rollup else ""
    out = []
    for f in tb["funds"]:
        lines = [
            TrialBalanceLine(
                ACCOUNT_LABELS[AccountKind(a["kind"])], int(a["debit_fen"]), int(a["credit_fen"])
            )
            for a in sorted(f["accounts"], key=lambda a: list(AccountKind).index(a["kind"]))
        ]
        if any(line.debit_fen or line.credit_fen for line in lines):
            out.append(FundTrialBalance(names.get(f["fund"], f["fund"]) + suffix, lines))
    return out


def outcome_stats(session: Session, scope: Scope) -> list[OutcomeStat]:
    """The period's payout lines by outcome (``ledger.figures.payout_outcomes``): superseded
    (reissued), cancelled and draft lines are listed apart, never in the total."""
    return [
        OutcomeStat(STATE_LABELS[o.state], o.count, o.amount_fen, counted=o.counted)
        for o in payout_outcomes(session, pattern=scope.pattern, period=scope.period)
    ]


def reason_stats(session: Session, scope: Scope) -> list[FailureReasonStat]:
    rows = session.execute(
        text(
            "SELECT COALESCE(reason_code, 'unspecified') AS reason, count(*) AS n, "
            "sum(amount_fen) AS fen FROM payout WHERE county_code LIKE :pattern "
            "AND period = :period AND state IN ('failed', 'returned', 'reissued') "
            "GROUP BY 1 ORDER BY 2 DESC, 1"
        ),
        {"pattern": scope.pattern, "period": scope.period},
    ).all()
    return [
        FailureReasonStat(REASON_LABELS.get(r.reason, r.reason), int(r.n), int(r.fen)) for r in rows
    ]


def _bucket(age_days: int) -> int:
    for i, edge in enumerate(AGEING_EDGES):
        if age_days <= edge:
            return i
    return len(AGEING_EDGES)


def _buckets(items: list[tuple[int, int]]) -> list[AgeingBucket]:
    """(age in days, fen) items into the report's four buckets, every bucket present."""
    counts = [0] * len(AGEING_BUCKETS)
    sums = [0] * len(AGEING_BUCKETS)
    for age, fen in items:
        b = _bucket(age)
        counts[b] += 1
        sums[b] += fen
    return [AgeingBucket(AGEING_BUCKETS[i], counts[i], sums[i]) for i in range(len(counts))]


def failed_ageing(session: Session, scope: Scope) -> list[AgeingBucket]:
    """Failed and returned payouts still waiting for reissue, by days since they came back."""
    rows = session.execute(
        text(
            "SELECT COALESCE(e.effective_date, CAST(p.updated_at AS date)) AS d, p.amount_fen "
            "FROM payout p LEFT JOIN journal_entry e ON e.id = p.last_entry_id "
            "WHERE p.county_code LIKE :pattern AND p.state IN ('failed', 'returned') "
            "AND NOT EXISTS (SELECT 1 FROM payout r WHERE r.reissue_of = p.id)"
        ),
        {"pattern": scope.pattern},
    ).all()
    return _buckets(
        [(max(0, (scope.as_of - r.d).days), int(r.amount_fen)) for r in rows if r.d <= scope.as_of]
    )


def suspense_ageing(session: Session, scope: Scope) -> list[AgeingBucket]:
    """The suspense balance at the period end, aged first in, first out: what is still held is
    the newest money received into suspense."""
    rows = session.execute(
        text(
            "SELECT a.id, e.effective_date AS d, p.side, p.amount_fen FROM posting p "
            "JOIN account a ON a.id = p.account_id JOIN journal_entry e ON e.id = p.entry_id "
            "WHERE a.kind = 'suspense' AND a.jurisdiction_code LIKE :pattern "
            "AND e.effective_date <= :as_of ORDER BY a.id, e.effective_date DESC, e.id DESC"
        ),
        {"pattern": scope.pattern, "as_of": scope.as_of},
    ).all()
    held: dict[int, int] = {}
    credits: dict[int, list[tuple[date, int]]] = {}
    for r in rows:
        held[r.id] = held.get(r.id, 0) + (r.amount_fen if r.side == "C" else -r.amount_fen)
        if r.side == "C":
            credits.setdefault(r.id, []).append((r.d, int(r.amount_fen)))
    items: list[tuple[int, int]] = []
    for account, balance in held.items():
        for d, fen in credits.get(account, []):  # newest first
            if balance <= 0:
                break
            take = min(fen, balance)
            items.append(((scope.as_of - d).days, take))
            balance -= take
    return _buckets(items)


SEVERITY_LABELS = {"blocking": "阻断", "warning": "警告", "info": "提示"}


def _where(f: ReportFinding, places: dict[str, str], funds: dict[str, str]) -> str:
    parts = [places.get(f.jurisdiction, f.jurisdiction)]
    if f.fund:
        parts.append(funds.get(f.fund, f.fund))
    if f.batch_id is not None:
        parts.append(f"批次 {f.batch_id}")
    return " ".join(parts)


def audit_findings(
    session: Session, found: Sequence[ReportFinding]
) -> tuple[list[FindingGroup], list[Acknowledgement]]:
    """The findings grouped by rule, in Chinese, and the acknowledgements with who made them."""
    funds = _fund_names(session)
    places = {
        str(code).strip(): str(name)
        for code, name in session.execute(text("SELECT code, name FROM jurisdiction")).tuples()
    }
    groups = []
    acks = []
    for group in group_by_rule(found):
        items = []
        for f in group.findings:
            where = _where(f, places, funds)
            items.append(
                AuditFinding(
                    rule=group.label,
                    severity=SEVERITY_LABELS.get(f.severity, f.severity),
                    status=STATUS_LABELS.get(f.status, f.status),
                    where=where,
                    message=f.message,
                    evidence=evidence_text(f.evidence),
                )
            )
            if f.acknowledged_by:
                acks.append(
                    Acknowledgement(
                        rule=group.label,
                        where=where,
                        by=f.acknowledged_by,
                        on=f.acknowledged_at.date() if f.acknowledged_at else None,
                        reason=f.ack_reason or "",
                    )
                )
        groups.append(
            FindingGroup(
                rule=group.label,
                severity=SEVERITY_LABELS.get(group.severity, group.severity),
                open=group.by_status("open"),
                acknowledged=group.by_status("acknowledged"),
                resolved=group.by_status("resolved"),
                findings=tuple(items),
            )
        )
    return groups, acks


def notice_sections(
    session: Session, scope: Scope
) -> tuple[list[ReviewCoverageRow], ComplaintSummary, list[PerformanceRow]]:
    """Review coverage, complaint counts and the ranked performance table of the scope."""
    funds = _fund_names(session)
    places = {
        str(code).strip(): str(name)
        for code, name in session.execute(text("SELECT code, name FROM jurisdiction")).tuples()
    }

    def where(j: str, fund: str) -> str:
        return f"{places.get(j, j)} {funds.get(fund, fund)}"

    coverage = [
        ReviewCoverageRow(where(c.county, c.fund), c.households, c.checked, c.visited,
                          c.check_rate, c.visit_rate)
        for c in review_coverage(session, scope)
    ]  # fmt: skip
    c = complaint_counts(session, scope)
    ranked = [
        PerformanceRow(rank, where(p.jurisdiction, p.fund), p.execution_rate, p.days_to_people,
                       p.reissued_in_time_rate, p.findings_per_thousand, p.review_coverage)
        for rank, p in ranking(performance(session, scope))
    ]  # fmt: skip
    return coverage, ComplaintSummary(c.received, c.closed, c.open, c.overdue), ranked


def integrity(session: Session) -> tuple[IntegrityStatus, dict[str, Any]]:
    """verify() over the whole journal. The time shown is the last entry's, so the same books
    print the same page; the result itself is recomputed every time."""
    report = verify(session)
    last = session.execute(
        text("SELECT created_at FROM journal_entry ORDER BY id DESC LIMIT 1")
    ).scalar()
    if report.ok:
        result = f"通过：{report.entry_count} 条分录的哈希链、余额、明细账与批次摘要全部核对一致"
    else:
        first = report.first_broken_entry
        result = (
            "未通过"
            + (f"：第 {first} 号分录起链条断裂。" if first else "：")
            + "；".join(report.problems[:5])
        )
    verified_at = (last or datetime(1970, 1, 1)).replace(tzinfo=None)
    status = IntegrityStatus(
        chain_head_hex=report.chain_head,
        entry_count=report.entry_count,
        result=result,
        verified_at=verified_at,
    )
    return status, report.as_dict()


def audit_data(
    session: Session, scope: Scope, *, checkpoint: tuple[int, str] | None = None
) -> tuple[AuditReportData, dict[str, Any]]:
    """Everything the audit PDF prints, and the verify result as figures; each read once."""
    jur = get_jurisdiction(session, scope.jurisdiction)
    found = all_findings(session, scope)
    rows = [_flow_row(name, fig) for name, fig in fund_flow(session, scope, rollup=False)]
    tbs = trial_balances(session, scope, rollup=False)
    if scope.rolls_up:
        tbs += trial_balances(session, scope, rollup=True)
    subtree = None
    if scope.rolls_up:
        total = FlowFigures()
        for _name, fig in fund_flow(session, scope, rollup=True):
            total = total + fig
        subtree = _flow_row("全辖", total)
    status, verified = integrity(session)
    groups, acks = audit_findings(session, found)
    coverage, complaints, ranked = notice_sections(session, scope)
    data = AuditReportData(
        jurisdiction_code=scope.jurisdiction,
        jurisdiction_name=str(jur["name"]),
        period=scope.label,
        generated_on=scope.as_of,
        issuing_bureau=bureau_name(session, scope.jurisdiction, "audit"),
        integrity=status,
        fund_flow=rows,
        subtree=subtree,
        summary=summary_rows(session, scope, found),
        trial_balances=tbs,
        outcomes=outcome_stats(session, scope),
        failure_reasons=reason_stats(session, scope),
        suspense_ageing=suspense_ageing(session, scope),
        failed_ageing=failed_ageing(session, scope),
        finding_groups=groups,
        acknowledgements=acks,
        execution_rate_note=RATE_NOTE,
        checkpoint=checkpoint,
        review_coverage=coverage,
        complaints=complaints,
        performance=ranked,
        performance_year=scope.as_of.year,
    )
    return data, verified
