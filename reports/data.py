"""The figures the reports print, read from the books and the payout subledger. Nothing is written.

Disclosure (公示): the payouts of the period in state ``sent`` or ``paid`` — the people being
paid this month. A draft line was never released; a failed or returned line was not paid, and
its reissue (a new attempt of the same fund and period) is listed in its place, so each person
appears once.

Audit (审计): every figure is as of the period's last day. Fund flow per fund, for the
jurisdiction's own books and, for a city or the province, rolled up over its subtree (where
transfers inside the subtree cancel):

* appropriated = appropriation revenue; received = transfer in (for a roll-up: only what the
  root received from above); sent below = transfer out (roll-up: what left the subtree);
* paid to people = the benefit expense balance (paid minus returned after payment);
* returned = money that came back to special cash from the bank: credits to in transit that
  were not paid, plus credits to benefit expense;
* balance = special cash; execution rate = (sent below + paid) / (appropriated + received).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from ledger.config import get_settings
from ledger.domain import ACCOUNT_LABELS, AccountKind
from ledger.journal import service as journal
from ledger.journal.verify import verify
from ledger.jurisdictions.service import get_jurisdiction
from reports.findings import all_findings
from reports.pdf.audit import (
    AGEING_BUCKETS,
    AgeingBucket,
    AuditFinding,
    AuditReportData,
    FailureReasonStat,
    FundFlowRow,
    FundTrialBalance,
    IntegrityStatus,
    OutcomeStat,
    TrialBalanceLine,
)
from reports.pdf.disclosure import DisclosureInfo, DisclosureRow
from reports.scope import Scope

DISCLOSED_STATES = ("sent", "paid")
STATE_LABELS = {
    "sent": "在途（已发送银行）",
    "paid": "已支付",
    "failed": "失败（退票）",
    "returned": "支付后退回",
    "reissued": "已重新发放",
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
EXECUTION_RATE_NOTE = (
    "执行率 =（补助下级 + 发放到人）÷（本级拨款 + 上级补助），截至期末，按账簿计算；"
    "发放到人已扣除支付后退回的金额，在途款不计入。"
)
AGEING_EDGES = (30, 60, 90)  # days; matches reports.pdf.audit.AGEING_BUCKETS


def bureau_name(session: Session, jurisdiction: str, kind: str, fallback_suffix: str) -> str:
    """The issuing bureau: the first registered bureau of that kind, else a conventional name."""
    name = session.execute(
        text(
            "SELECT name FROM bureau WHERE jurisdiction_code = :j AND kind = :k ORDER BY id LIMIT 1"
        ),
        {"j": jurisdiction, "k": kind},
    ).scalar()
    if name:
        return str(name)
    return str(get_jurisdiction(session, jurisdiction)["name"]) + fallback_suffix


# ---- disclosure ----------------------------------------------------------------------------

_DISCLOSED = (
    "FROM payout p WHERE p.county_code LIKE :pattern AND p.fund_code = :fund "
    "AND p.period = :period AND p.state IN ('sent', 'paid')"
)


def disclosure_date(session: Session, scope: Scope, fund: str) -> date:
    """The books' date for these lines: the last entry that moved one, else the period's end."""
    day = session.execute(
        text(
            "SELECT max(e.effective_date) FROM journal_entry e WHERE e.id IN "
            f"(SELECT p.last_entry_id {_DISCLOSED})"
        ),
        {"pattern": scope.pattern, "fund": fund, "period": scope.period},
    ).scalar()
    return day or scope.as_of


def disclosure_info(session: Session, scope: Scope, fund: str) -> DisclosureInfo:
    jur = get_jurisdiction(session, scope.jurisdiction)
    fund_name = session.execute(text("SELECT name FROM fund WHERE code = :f"), {"f": fund}).scalar()
    return DisclosureInfo(
        jurisdiction_name=str(jur["name"]),
        jurisdiction_code=scope.jurisdiction,
        fund_name=str(fund_name or fund),
        period=scope.label,
        issuing_bureau=bureau_name(session, scope.jurisdiction, "civil_affairs", "民政局"),
        hotline=get_settings().complaint_hotline,
        generated_on=disclosure_date(session, scope, fund),
    )


def disclosure_rows(session: Session, scope: Scope, fund: str) -> Iterator[DisclosureRow]:
    """The lines of the disclosure, streamed from a server-side cursor in print order.

    Only the columns the public may see are selected: no ID, account, address, income or assets.
    """
    result = session.execute(
        text(
            "SELECT p.township, p.village, p.payee_name, p.household_size, p.amount_fen "
            f"{_DISCLOSED} ORDER BY p.township, p.village, p.payee_name, p.id"
        ).execution_options(yield_per=5000),
        {"pattern": scope.pattern, "fund": fund, "period": scope.period},
    )
    for r in result:
        yield DisclosureRow(r[0] or "（未填）", r[1] or "（未填）", r[2], r[3], r[4])


def disclosure_totals(session: Session, scope: Scope, fund: str) -> dict[str, int]:
    row = session.execute(
        text(
            "SELECT count(*) AS households, COALESCE(sum(p.household_size), 0) AS persons, "
            f"COALESCE(sum(p.amount_fen), 0) AS amount_fen {_DISCLOSED}"
        ),
        {"pattern": scope.pattern, "fund": fund, "period": scope.period},
    ).one()
    return {"households": row.households, "persons": row.persons, "amount_fen": row.amount_fen}


# ---- audit ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FlowFigures:
    fund: str
    fund_name: str
    appropriated_fen: int
    received_fen: int
    sent_below_fen: int
    paid_fen: int
    returned_fen: int
    balance_fen: int

    @property
    def execution_rate(self) -> Decimal | str:
        available = self.appropriated_fen + self.received_fen
        if available <= 0:
            return "—"
        rate = Decimal(self.sent_below_fen + self.paid_fen) / Decimal(available)
        return rate.quantize(Decimal("0.0001"), rounding=ROUND_HALF_EVEN)

    def row(self, label: str) -> FundFlowRow:
        return FundFlowRow(
            fund_name=label,
            appropriated_fen=self.appropriated_fen,
            received_fen=self.received_fen,
            sent_below_fen=self.sent_below_fen,
            paid_fen=self.paid_fen,
            returned_fen=self.returned_fen,
            balance_fen=self.balance_fen,
            execution_rate=self.execution_rate,
        )


def fund_flow(session: Session, scope: Scope, *, rollup: bool) -> list[FlowFigures]:
    """Fund flow per fund from gross debits and credits per account kind, as of the period end."""
    where = "a.jurisdiction_code LIKE :pattern" if rollup else "a.jurisdiction_code = :j"
    rows = session.execute(
        text(
            "SELECT a.fund_code, f.name AS fund_name, a.kind, "
            "  COALESCE(sum(p.amount_fen) FILTER (WHERE p.side = 'D'), 0) AS dr, "
            "  COALESCE(sum(p.amount_fen) FILTER (WHERE p.side = 'C'), 0) AS cr "
            "FROM account a JOIN fund f ON f.code = a.fund_code "
            "LEFT JOIN posting p ON p.account_id = a.id AND p.entry_id IN "
            "  (SELECT id FROM journal_entry WHERE effective_date <= :as_of) "
            f"WHERE {where} GROUP BY a.fund_code, f.name, a.kind ORDER BY a.fund_code"
        ),
        {"pattern": scope.pattern, "j": scope.jurisdiction, "as_of": scope.as_of},
    ).all()
    sums: dict[str, dict[str, Any]] = {}
    for r in rows:
        fund = sums.setdefault(r.fund_code, {"name": r.fund_name})
        fund[r.kind] = (int(r.dr), int(r.cr))
    inner = _inner_transfers(session, scope) if rollup else {}
    out = []
    for code, fund in sums.items():

        def net_credit(kind: AccountKind, f: dict[str, Any] = fund) -> int:
            dr, cr = f.get(kind.value, (0, 0))
            return int(cr - dr)

        def gross(kind: AccountKind, side: int, f: dict[str, Any] = fund) -> int:
            return int(f.get(kind.value, (0, 0))[side])

        moved_inside = inner.get(code, 0)
        flow = FlowFigures(
            fund=code,
            fund_name=str(fund["name"]),
            appropriated_fen=net_credit(AccountKind.appropriation_revenue),
            received_fen=net_credit(AccountKind.transfer_in) - moved_inside,
            sent_below_fen=-net_credit(AccountKind.transfer_out) - moved_inside,
            paid_fen=-net_credit(AccountKind.benefit_expense),
            returned_fen=gross(AccountKind.in_transit, 1)
            - gross(AccountKind.benefit_expense, 0)
            + gross(AccountKind.benefit_expense, 1),
            balance_fen=-net_credit(AccountKind.special_cash),
        )
        if any((flow.appropriated_fen, flow.received_fen, flow.sent_below_fen, flow.paid_fen)) or (
            flow.balance_fen or flow.returned_fen
        ):
            out.append(flow)
    return out


def _inner_transfers(session: Session, scope: Scope) -> dict[str, int]:
    """Net transfer-in credited inside the subtree by entries whose sender is also inside it."""
    rows = session.execute(
        text(
            "SELECT a.fund_code, COALESCE(sum(CASE p.side WHEN 'C' THEN p.amount_fen "
            "  ELSE -p.amount_fen END), 0) AS fen "
            "FROM posting p JOIN account a ON a.id = p.account_id "
            "JOIN journal_entry e ON e.id = p.entry_id "
            "WHERE a.kind = 'transfer_in' AND a.jurisdiction_code LIKE :pattern "
            "  AND e.effective_date <= :as_of AND EXISTS (SELECT 1 FROM posting p2 "
            "  JOIN account a2 ON a2.id = p2.account_id WHERE p2.entry_id = p.entry_id "
            "  AND a2.kind = 'transfer_out' AND a2.fund_code = a.fund_code "
            "  AND a2.jurisdiction_code LIKE :pattern) GROUP BY a.fund_code"
        ),
        {"pattern": scope.pattern, "as_of": scope.as_of},
    ).all()
    return {r.fund_code: int(r.fen) for r in rows}


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
    rows = session.execute(
        text(
            "SELECT state, count(*) AS n, sum(amount_fen) AS fen FROM payout "
            "WHERE county_code LIKE :pattern AND period = :period GROUP BY state"
        ),
        {"pattern": scope.pattern, "period": scope.period},
    ).all()
    by_state = {r.state: r for r in rows}
    return [
        OutcomeStat(STATE_LABELS[s], int(by_state[s].n), int(by_state[s].fen))
        for s in STATE_LABELS
        if s in by_state
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


def audit_findings(session: Session, scope: Scope) -> list[AuditFinding]:
    out = []
    for f in all_findings(session, scope):
        where = " ".join(x for x in (f.jurisdiction, f.fund or "", f.period or "") if x)
        if f.batch_id is not None:
            where += f" 批次{f.batch_id}"
        evidence = "; ".join(f"{k}={_evidence_text(v)}" for k, v in sorted(f.evidence.items()))
        out.append(
            AuditFinding(
                rule_code=f.rule,
                severity=SEVERITY_LABELS.get(f.severity, f.severity),
                message=f.message,
                evidence=f"[{where}] {evidence}",
            )
        )
    return out


def _evidence_text(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


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


def books_date(session: Session, scope: Scope) -> date:
    """The date the audit report carries: its last entry on or before the period end."""
    day = session.execute(
        text("SELECT max(effective_date) FROM journal_entry WHERE effective_date <= :d"),
        {"d": scope.as_of},
    ).scalar()
    return day or scope.as_of


def audit_data(session: Session, scope: Scope) -> tuple[AuditReportData, dict[str, Any]]:
    """Everything the audit PDF prints, and the verify result as figures."""
    jur = get_jurisdiction(session, scope.jurisdiction)
    # The flow table sums its rows, so it holds the jurisdiction's own books only; the subtree
    # roll-up (where inner transfers cancel) is printed as its own trial balances.
    rows = [f.row(f.fund_name) for f in fund_flow(session, scope, rollup=False)]
    tbs = trial_balances(session, scope, rollup=False)
    if scope.rolls_up:
        tbs += trial_balances(session, scope, rollup=True)
    status, verified = integrity(session)
    data = AuditReportData(
        jurisdiction_code=scope.jurisdiction,
        jurisdiction_name=str(jur["name"]),
        period=scope.label,
        generated_on=books_date(session, scope),
        issuing_bureau=bureau_name(session, scope.jurisdiction, "audit", "审计局"),
        integrity=status,
        fund_flow=rows,
        trial_balances=tbs,
        outcomes=outcome_stats(session, scope),
        failure_reasons=reason_stats(session, scope),
        suspense_ageing=suspense_ageing(session, scope),
        failed_ageing=failed_ageing(session, scope),
        findings=audit_findings(session, scope),
        execution_rate_note=EXECUTION_RATE_NOTE,
    )
    return data, verified
