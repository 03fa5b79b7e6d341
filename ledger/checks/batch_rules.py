"""Pre-release checks of a payment batch (发放前检查). Each rule is set-based SQL over the batch's
payouts and the registers; each hit becomes a ``Finding`` stored with the batch.

Blocking rules stop the release; a warning stops it until someone acknowledges it with a reason.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from ledger.checks.model import Finding, Severity
from ledger.jurisdictions.catalog import level_of, parent_of
from ledger.money import fen_to_str
from ledger.registers.service import current_snapshot_sql
from ledger.roster.service import entitled_sql

MINIMUM_LIVING = ("urban_minimum_living", "rural_minimum_living")
DESTITUTE = ("urban_destitute_support", "rural_destitute_support")


@dataclass(frozen=True)
class BatchScope:
    id: int
    county: str
    fund: str
    period: str
    bank: str


def _finding(
    batch: BatchScope, rule: str, severity: Severity, message: str, evidence: dict[str, Any]
) -> Finding:
    return Finding(
        rule=rule,
        severity=severity,
        jurisdiction=batch.county,
        message=message,
        evidence=evidence,
        fund=batch.fund,
        period=batch.period,
        batch_id=batch.id,
    )


def same_person_twice(session: Session, batch: BatchScope, candidates: str) -> list[Finding]:
    """Candidates (a table of lines about to be written) who already have a live attempt for the
    fund and period — in another county's batch or an earlier one. Their lines are left out."""
    rows = session.execute(
        text(
            f"SELECT c.household_id, c.period, p.id AS payout_id, p.batch_id, p.county_code "
            f"FROM {candidates} c JOIN payout_live l ON l.person_key = c.person_key "
            "AND l.fund_code = :fund AND l.period = c.period "
            "JOIN payout p ON p.id = l.payout_id AND p.period = l.period "
            "ORDER BY c.household_id"
        ),
        {"fund": batch.fund},
    ).all()
    return [
        _finding(
            batch,
            "same_person_twice",
            "blocking",
            f"户编号{r.household_id}的领取人在{r.period}期已有发放记录（{r.county_code}批次"
            f"{r.batch_id}），同一人同一资金同一期不得重复发放；该行未生成。",
            {"household_id": r.household_id, "existing_payout_id": r.payout_id},
        )
        for r in rows
    ]


def _lines(
    session: Session, batch: BatchScope, sql: str, params: dict[str, Any] | None = None
) -> list[Any]:
    return list(
        session.execute(
            text(sql), {"b": batch.id, "fund": batch.fund, "period": batch.period, **(params or {})}
        ).all()
    )


def payee_dead(session: Session, batch: BatchScope) -> list[Finding]:
    rows = _lines(
        session,
        batch,
        "SELECT p.id, p.seq, p.household_id, p.period, d.id AS death_id, d.date_of_death "
        "FROM payout p JOIN death_record d ON d.person_key = p.person_key WHERE p.batch_id = :b "
        "AND d.date_of_death < to_date(p.period || '01', 'YYYYMMDD') ORDER BY p.seq",
    )
    return [
        _finding(
            batch,
            "paid_after_death",
            "blocking",
            f"第{r.seq}行（户编号{r.household_id}）的领取人已于{r.date_of_death:%Y年%m月%d日}死亡，"
            f"不得发放{r.period}期待遇。",
            {"payout_id": r.id, "death_record_id": r.death_id},
        )
        for r in rows
    ]


def exclusive_programs(session: Session, batch: BatchScope) -> list[Finding]:
    entitled = entitled_sql(
        "fund_code IN (SELECT other FROM x) "
        "AND person_key IN (SELECT person_key FROM payout WHERE batch_id = :b)"
    )
    rows = _lines(
        session,
        batch,
        "WITH x AS (SELECT fund_b AS other FROM program_exclusion WHERE fund_a = :fund "
        "  UNION SELECT fund_a FROM program_exclusion WHERE fund_b = :fund), "
        "hits AS (SELECT p.id, p.seq, p.household_id, r.fund_code AS other, r.county_code "
        f"  FROM payout p JOIN ({entitled}) r ON r.person_key = p.person_key "
        "  WHERE p.batch_id = :b "
        "  UNION SELECT p.id, p.seq, p.household_id, q.fund_code, q.county_code FROM payout p "
        "  JOIN x ON true JOIN payout_live l ON l.person_key = p.person_key "
        "  AND l.fund_code = x.other AND l.period = p.period "
        "  JOIN payout q ON q.id = l.payout_id AND q.period = l.period WHERE p.batch_id = :b) "
        "SELECT h.*, f.name AS other_name FROM hits h JOIN fund f ON f.code = h.other "
        "ORDER BY h.seq, h.other",
    )
    return [
        _finding(
            batch,
            "exclusive_programs",
            "blocking",
            f"第{r.seq}行（户编号{r.household_id}）的领取人同时享受{r.other_name}"
            f"（{r.county_code}），两者不得同时享受。",
            {"payout_id": r.id, "other_fund": r.other, "other_county": r.county_code},
        )
        for r in rows
    ]


def insufficient_special_cash(session: Session, batch: BatchScope) -> list[Finding]:
    row = _lines(
        session,
        batch,
        "SELECT (SELECT CAST(COALESCE(sum(amount_fen), 0) AS bigint) FROM payout WHERE batch_id = :b) AS total, "
        "COALESCE((SELECT balance_fen FROM account WHERE jurisdiction_code = :c "
        "AND fund_code = :fund AND kind = 'special_cash'), 0) AS cash",
        {"c": batch.county},
    )[0]
    if row.total <= row.cash:
        return []
    return [
        _finding(
            batch,
            "insufficient_special_cash",
            "blocking",
            f"批次合计{fen_to_str(row.total)}元，专户余额仅{fen_to_str(row.cash)}元，资金不足。",
            {"batch_id": batch.id, "total_fen": row.total, "special_cash_fen": row.cash},
        )
    ]


def _standard_sql(jur: str) -> str:
    return (
        "(SELECT monthly_fen FROM benefit_standard WHERE jurisdiction_code = "
        f"{jur} AND fund_code = :fund AND effective_from <= p.period "
        "ORDER BY effective_from DESC, id DESC LIMIT 1)"
    )


def above_entitlement(session: Session, batch: BatchScope) -> list[Finding]:
    """低保 pays the gap, at most standard × household size; 特困 pays the standard. The standard
    is the higher of the county's and its city's (a county may not pay below its city)."""
    if batch.fund not in MINIMUM_LIVING + DESTITUTE:
        return []
    city = parent_of(batch.county) if level_of(batch.county) == 3 else batch.county
    size = "household_size" if batch.fund in MINIMUM_LIVING else "1"
    rows = _lines(
        session,
        batch,
        "SELECT * FROM (SELECT p.id, p.seq, p.household_id, p.amount_fen, p.household_size, "
        f"GREATEST({_standard_sql(':c')}, {_standard_sql(':city')}) AS standard "
        "FROM payout p WHERE p.batch_id = :b) t "
        f"WHERE standard IS NOT NULL AND amount_fen > standard * {size} ORDER BY seq",
        {"c": batch.county, "city": city},
    )
    return [
        _finding(
            batch,
            "above_entitlement",
            "warning",
            f"第{r.seq}行（户编号{r.household_id}）发放{fen_to_str(r.amount_fen)}元，"
            f"超过保障标准{fen_to_str(r.standard)}元"
            + (f"×{r.household_size}人" if batch.fund in MINIMUM_LIVING else "")
            + "。",
            {"payout_id": r.id, "standard_fen": r.standard},
        )
        for r in rows
    ]


def county_below_city(session: Session, batch: BatchScope) -> list[Finding]:
    if level_of(batch.county) != 3:
        return []
    city = parent_of(batch.county)
    row = session.execute(
        text(
            "SELECT c.id AS county_id, c.monthly_fen AS county_fen, t.id AS city_id, "
            "t.monthly_fen AS city_fen FROM "
            "(SELECT id, monthly_fen FROM benefit_standard WHERE jurisdiction_code = :c "
            " AND fund_code = :fund AND effective_from <= :period "
            " ORDER BY effective_from DESC, id DESC LIMIT 1) c, "
            "(SELECT id, monthly_fen FROM benefit_standard WHERE jurisdiction_code = :city "
            " AND fund_code = :fund AND effective_from <= :period "
            " ORDER BY effective_from DESC, id DESC LIMIT 1) t"
        ),
        {"c": batch.county, "city": city, "fund": batch.fund, "period": batch.period},
    ).first()
    if row is None or row.county_fen >= row.city_fen:
        return []
    return [
        _finding(
            batch,
            "county_standard_below_city",
            "warning",
            f"{batch.county}的保障标准{fen_to_str(row.county_fen)}元低于所属市"
            f"{fen_to_str(row.city_fen)}元；按市标准核定待遇。",
            {"county_standard_id": row.county_id, "city_standard_id": row.city_id},
        )
    ]


def shared_account(session: Session, batch: BatchScope) -> list[Finding]:
    rows = _lines(
        session,
        batch,
        "SELECT array_agg(id ORDER BY seq) AS ids, array_agg(DISTINCT household_id) AS households "
        "FROM payout WHERE batch_id = :b GROUP BY account_key "
        "HAVING count(DISTINCT household_id) > 1 ORDER BY min(seq)",
    )
    return [
        _finding(
            batch,
            "shared_account",
            "warning",
            f"同一银行账户为{len(r.households)}户（{'、'.join(r.households)}）收款，请核实。",
            {"payout_ids": list(r.ids), "household_ids": list(r.households)},
        )
        for r in rows
    ]


def holder_not_payee(session: Session, batch: BatchScope) -> list[Finding]:
    rows = _lines(
        session,
        batch,
        "SELECT id, seq, household_id FROM payout WHERE batch_id = :b "
        "AND regexp_replace(account_name, '\\s', '', 'g') <> "
        "regexp_replace(payee_name, '\\s', '', 'g') ORDER BY seq",
    )
    return [
        _finding(
            batch,
            "account_holder_mismatch",
            "warning",
            f"第{r.seq}行（户编号{r.household_id}）的账户户名与领取人姓名不一致，请核实代领关系。",
            {"payout_id": r.id},
        )
        for r in rows
    ]


def _scopes(county: str) -> list[str]:
    """The county and every jurisdiction above it whose lists apply to it."""
    out = [county]
    parent = parent_of(county)
    while parent is not None:
        out.append(parent)
        parent = parent_of(parent)
    return out


def public_payroll(session: Session, batch: BatchScope) -> list[Finding]:
    rows = _lines(
        session,
        batch,
        "SELECT DISTINCT ON (p.id) p.id, p.seq, p.household_id, w.id AS payroll_id, w.employer "
        "FROM payout p JOIN public_payroll w ON w.person_key = p.person_key "
        "JOIN register_import i ON i.id = w.import_id "
        f"WHERE p.batch_id = :b AND w.import_id IN ({current_snapshot_sql('public_payroll')}) "
        "AND i.jurisdiction_code = ANY(:scopes) ORDER BY p.id",
        {"scopes": _scopes(batch.county)},
    )
    return [
        _finding(
            batch,
            "on_public_payroll",
            "warning",
            f"第{r.seq}行（户编号{r.household_id}）的领取人为财政供养人员（{r.employer}），请核实。",
            {"payout_id": r.id, "payroll_id": r.payroll_id},
        )
        for r in rows
    ]


def unfiled_staff_relative(session: Session, batch: BatchScope) -> list[Finding]:
    rows = _lines(
        session,
        batch,
        "SELECT DISTINCT ON (p.id) p.id, p.seq, p.household_id, s.id AS relative_id, s.relation "
        "FROM payout p JOIN staff_relative s ON s.relative_person_key = p.person_key "
        "JOIN register_import i ON i.id = s.import_id "
        f"WHERE p.batch_id = :b AND s.import_id IN ({current_snapshot_sql('staff_relatives')}) "
        "AND i.jurisdiction_code = ANY(:scopes) AND NOT s.filed ORDER BY p.id",
        {"scopes": _scopes(batch.county)},
    )
    return [
        _finding(
            batch,
            "unfiled_staff_relative",
            "warning",
            f"第{r.seq}行（户编号{r.household_id}）的领取人是工作人员的{r.relation}，尚未近亲属备案。",
            {"payout_id": r.id, "staff_relative_id": r.relative_id},
        )
        for r in rows
    ]


BATCH_RULES: list[Callable[[Session, BatchScope], list[Finding]]] = [
    payee_dead,
    exclusive_programs,
    insufficient_special_cash,
    above_entitlement,
    county_below_city,
    shared_account,
    holder_not_payee,
    public_payroll,
    unfiled_staff_relative,
]
BLOCKING_RULES = (
    "same_person_twice",
    "paid_after_death",
    "exclusive_programs",
    "insufficient_special_cash",
)


def store_findings(session: Session, findings: list[Finding], run_id: str) -> None:
    if not findings:
        return
    session.execute(
        text(
            "INSERT INTO finding (rule, severity, jurisdiction_code, fund_code, period, batch_id, "
            "message, evidence, run_id) VALUES (:rule, :severity, :jurisdiction, :fund, :period, "
            ":batch_id, :message, CAST(:evidence AS jsonb), :run_id)"
        ),
        [
            {
                "rule": f.rule,
                "severity": f.severity,
                "jurisdiction": f.jurisdiction,
                "fund": f.fund,
                "period": f.period,
                "batch_id": f.batch_id,
                "message": f.message,
                "evidence": json.dumps(f.evidence, ensure_ascii=False),
                "run_id": run_id,
            }
            for f in findings
        ],
    )


def run_batch_checks(
    session: Session, batch: BatchScope, *, ran_by: str, earlier: list[Finding] | None = None
) -> list[Finding]:
    """Run every rule and record the run, a run that finds nothing too (the latest run decides
    release); store the findings under the run's id and return them."""
    findings = list(earlier or [])
    for rule in BATCH_RULES:
        findings.extend(rule(session, batch))
    run_id = uuid.uuid4().hex
    session.execute(
        text(
            "INSERT INTO check_run (run_id, batch_id, ran_by, findings, blocking) "
            "VALUES (:r, :b, :by, :n, :blocking)"
        ),
        {
            "r": run_id,
            "b": batch.id,
            "by": ran_by,
            "n": len(findings),
            "blocking": sum(f.severity == "blocking" for f in findings),
        },
    )
    store_findings(session, findings, run_id=run_id)
    return findings
