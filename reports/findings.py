"""The time-based and ledger-level audit rules (审计发现), run for a jurisdiction and a period.

Each rule is one set-based query over the books and the payout subledger as of the period's
last day; it returns ``ledger.checks.model.Finding`` values with the evidence ids and a
plain-Chinese message. The pre-release batch rules live in ``ledger.checks`` and store their
findings with the batch; ``surface_batch_findings`` reads those back so the audit report shows
every finding. Thresholds come from ``reports/config/findings.toml``.

Rules:

* ``special_cash_idle`` — money that stayed in a special account (专户存款) for the whole of the
  last ``idle_months`` months: the smallest balance over that window was never spent.
* ``transfer_not_paid_out`` — a transfer payment received and not passed on (down, or to
  people) within ``transfer_days`` days (及时足额); money leaves first in, first out.
* ``failed_not_reissued`` — failed or returned payouts not reissued within ``reissue_days``.
* ``information_check_overdue`` — households paid in the period whose last information check
  (家庭经济状况信息化核对) is older than ``review_months`` months (six) or missing;
* ``home_visit_overdue`` — the same for the home visit (入户调查), ``home_visit_months`` (twelve).
  Both read ``household_review`` and judge only counties that have recorded any review: a
  county that keeps no review register yet is not reported household by household.
* ``holdings_above_limit`` — a household paid in the period whose members' holdings as of the
  report date (each account's latest reported value) exceed the asset limit per member × the
  household size; the limit is the county's own for the fund, else its city's.
* ``undeclared_holding`` — a person paid in the period holds something (value above zero) while
  the household's last information check recorded no assets (核对金融资产 0).
* ``complaint_overdue`` — complaints (投诉举报) whose deadline passed before they were closed, or
  that are still open after it.
* ``appropriation_decreased`` — 只增不减: a jurisdiction's own appropriation (本级拨款, from
  ``ledger.figures``) to a fund in the last complete fiscal year is below the year before.
"""

from __future__ import annotations

import json
import os
import secrets
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, fields
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.orm import Session

from ledger.checks.labels import rule_label
from ledger.checks.model import Finding
from ledger.figures import flow_figures
from ledger.money import fen_to_str
from reports.exports import Cell, Table, csv_bytes
from reports.pdf.base import format_fen
from reports.scope import Scope, add_months

CONFIG_PATH = Path(__file__).resolve().parent / "config" / "findings.toml"
SEVERITY_ORDER = {"blocking": 0, "warning": 1, "info": 2}


class Thresholds(BaseModel):
    idle_months: int = Field(ge=1, le=60)
    idle_min_fen: int = Field(ge=0)
    transfer_days: int = Field(ge=1, le=3650)
    reissue_days: int = Field(ge=1, le=3650)
    review_months: int = Field(ge=1, le=60)
    home_visit_months: int = Field(default=12, ge=1, le=60)
    evidence_limit: int = Field(ge=1, le=10_000)


@lru_cache
def load_thresholds(path: Path = CONFIG_PATH) -> Thresholds:
    """The TOML values, each overridable by ``LEDGER_FINDINGS_<NAME>`` in the environment."""
    values: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    for name in Thresholds.model_fields:
        env = os.environ.get(f"LEDGER_FINDINGS_{name.upper()}")
        if env is not None:
            values[name] = int(env)
    return Thresholds(**values)


def _yuan(fen: int) -> str:
    return fen_to_str(int(fen))


_SPECIAL_CASH_IN_SCOPE = (
    "SELECT a.id, a.jurisdiction_code, a.fund_code, j.name AS jname, f.name AS fname "
    "FROM account a JOIN jurisdiction j ON j.code = a.jurisdiction_code "
    "JOIN fund f ON f.code = a.fund_code "
    "WHERE a.kind = 'special_cash' AND a.jurisdiction_code LIKE :pattern"
)


def special_cash_idle(session: Session, scope: Scope, t: Thresholds) -> list[Finding]:
    since = add_months(scope.as_of, -t.idle_months)
    rows = session.execute(
        text(
            f"WITH acc AS ({_SPECIAL_CASH_IN_SCOPE}), "
            "mv AS (SELECT p.account_id, e.id AS eid, e.effective_date AS d, "
            "  CASE p.side WHEN 'D' THEN p.amount_fen ELSE -p.amount_fen END AS delta "
            "  FROM posting p JOIN journal_entry e ON e.id = p.entry_id "
            "  WHERE p.account_id IN (SELECT id FROM acc) AND e.effective_date <= :as_of), "
            "opening AS (SELECT acc.id, COALESCE(sum(mv.delta) FILTER (WHERE mv.d < :since), 0) "
            "  AS fen FROM acc LEFT JOIN mv ON mv.account_id = acc.id GROUP BY acc.id), "
            "running AS (SELECT account_id, eid, delta, sum(delta) OVER (PARTITION BY account_id "
            "  ORDER BY d, eid ROWS UNBOUNDED PRECEDING) AS moved FROM mv WHERE d >= :since) "
            "SELECT acc.id, acc.jurisdiction_code, acc.fund_code, acc.jname, acc.fname, "
            "  o.fen AS opening_fen, LEAST(o.fen, COALESCE(min(o.fen + r.moved), o.fen)) AS idle_fen, "
            "  o.fen + COALESCE((SELECT sum(delta) FROM mv WHERE mv.account_id = acc.id "
            "    AND mv.d >= :since), 0) AS balance_fen, "
            "  (SELECT max(eid) FROM mv WHERE mv.account_id = acc.id AND mv.delta < 0) AS last_out "
            "FROM acc JOIN opening o ON o.id = acc.id LEFT JOIN running r ON r.account_id = acc.id "
            "GROUP BY acc.id, acc.jurisdiction_code, acc.fund_code, acc.jname, acc.fname, o.fen "
            "HAVING LEAST(o.fen, COALESCE(min(o.fen + r.moved), o.fen)) > GREATEST(:min_fen, 0) "
            "ORDER BY acc.jurisdiction_code, acc.fund_code"
        ),
        {"pattern": scope.pattern, "as_of": scope.as_of, "since": since, "min_fen": t.idle_min_fen},
    ).all()
    return [
        Finding(
            rule="special_cash_idle",
            severity="warning",
            jurisdiction=r.jurisdiction_code,
            fund=r.fund_code,
            period=scope.period,
            message=(
                f"{r.jname}{r.fname}专户自{since.isoformat()}至{scope.as_of.isoformat()}"
                f"始终有{_yuan(r.idle_fen)}元未动用，资金闲置超过{t.idle_months}个月。"
            ),
            evidence={
                "account_id": r.id,
                "idle_fen": int(r.idle_fen),
                "balance_fen": int(r.balance_fen),
                "since": since.isoformat(),
                "last_outflow_entry_id": r.last_out,
            },
        )
        for r in rows
    ]


def transfer_not_paid_out(session: Session, scope: Scope, t: Thresholds) -> list[Finding]:
    rows = session.execute(
        text(
            f"WITH acc AS ({_SPECIAL_CASH_IN_SCOPE}), "
            "mv AS (SELECT p.account_id, e.id AS eid, e.effective_date AS d, p.side, p.amount_fen "
            "  FROM posting p JOIN journal_entry e ON e.id = p.entry_id "
            "  WHERE p.account_id IN (SELECT id FROM acc) AND e.effective_date <= :as_of), "
            "inflow AS (SELECT mv.*, sum(amount_fen) OVER (PARTITION BY account_id "
            "  ORDER BY d, eid ROWS UNBOUNDED PRECEDING) AS cum_in FROM mv WHERE side = 'D'), "
            # A transfer received: the same entry credits this book's transfer-in account.
            "received AS (SELECT i.*, acc.jurisdiction_code, acc.fund_code, acc.jname, acc.fname "
            "  FROM inflow i JOIN acc ON acc.id = i.account_id "
            "  WHERE i.d + :days < :as_of AND EXISTS (SELECT 1 FROM posting p2 "
            "    JOIN account a2 ON a2.id = p2.account_id WHERE p2.entry_id = i.eid "
            "    AND p2.side = 'C' AND a2.kind = 'transfer_in' "
            "    AND a2.jurisdiction_code = acc.jurisdiction_code AND a2.fund_code = acc.fund_code)) "
            "SELECT r.*, LEAST(r.amount_fen, r.cum_in - COALESCE((SELECT sum(o.amount_fen) "
            "  FROM mv o WHERE o.account_id = r.account_id AND o.side = 'C' "
            "  AND o.d <= r.d + :days), 0)) AS unpaid_fen "
            "FROM received r ORDER BY r.jurisdiction_code, r.fund_code, r.d, r.eid"
        ),
        {"pattern": scope.pattern, "as_of": scope.as_of, "days": t.transfer_days},
    ).all()
    return [
        Finding(
            rule="transfer_not_paid_out",
            severity="warning",
            jurisdiction=r.jurisdiction_code,
            fund=r.fund_code,
            period=scope.period,
            message=(
                f"{r.jname}于{r.d.isoformat()}收到{r.fname}上级补助{_yuan(r.amount_fen)}元，"
                f"{t.transfer_days}天内仍有{_yuan(r.unpaid_fen)}元未拨付下级或发放到人，"
                "未做到及时足额。"
            ),
            evidence={
                "entry_id": r.eid,
                "received_on": r.d.isoformat(),
                "amount_fen": int(r.amount_fen),
                "unpaid_fen": int(r.unpaid_fen),
            },
        )
        for r in rows
        if r.unpaid_fen > 0
    ]


def failed_not_reissued(session: Session, scope: Scope, t: Thresholds) -> list[Finding]:
    rows = session.execute(
        text(
            "WITH pending AS (SELECT p.id, p.reference, p.county_code, p.fund_code, p.amount_fen, "
            "  COALESCE(e.effective_date, CAST(p.updated_at AS date)) AS failed_on "
            "  FROM payout p LEFT JOIN journal_entry e ON e.id = p.last_entry_id "
            "  WHERE p.county_code LIKE :pattern AND p.state IN ('failed', 'returned') "
            "  AND NOT EXISTS (SELECT 1 FROM payout r WHERE r.reissue_of = p.id)) "
            "SELECT q.county_code, q.fund_code, j.name AS jname, f.name AS fname, "
            "  count(*) AS n, sum(q.amount_fen) AS fen, min(q.failed_on) AS oldest, "
            "  (array_agg(q.id ORDER BY q.failed_on, q.id))[1:CAST(:lim AS int)] AS ids, "
            "  (array_agg(q.reference ORDER BY q.failed_on, q.id))[1:CAST(:lim AS int)] AS refs "
            "FROM pending q JOIN jurisdiction j ON j.code = q.county_code "
            "JOIN fund f ON f.code = q.fund_code "
            "WHERE q.failed_on + :days < :as_of "
            "GROUP BY q.county_code, q.fund_code, j.name, f.name ORDER BY q.county_code, q.fund_code"
        ),
        {
            "pattern": scope.pattern,
            "as_of": scope.as_of,
            "days": t.reissue_days,
            "lim": t.evidence_limit,
        },
    ).all()
    return [
        Finding(
            rule="failed_not_reissued",
            severity="warning",
            jurisdiction=r.county_code,
            fund=r.fund_code,
            period=scope.period,
            message=(
                f"{r.jname}{r.fname}有{r.n}笔发放失败或退回的款项（合计{_yuan(r.fen)}元）"
                f"超过{t.reissue_days}天未重新发放，最早一笔失败于{r.oldest.isoformat()}。"
            ),
            evidence={
                "payout_ids": list(r.ids),
                "references": list(r.refs),
                "count": int(r.n),
                "amount_fen": int(r.fen),
                "oldest": r.oldest.isoformat(),
            },
        )
        for r in rows
    ]


_PAID_HOUSEHOLDS = (
    "SELECT p.county_code, p.fund_code, p.household_id, max(p.household_size) AS size, "
    "  array_agg(DISTINCT p.person_key) AS people "
    "FROM payout p WHERE p.county_code LIKE :pattern AND p.period = :period "
    "AND p.state IN ('sent', 'paid') GROUP BY 1, 2, 3"
)
_CURRENT_HOLDINGS = (
    "SELECT DISTINCT ON (person_key, institution, account_key) id, person_key, value_fen "
    "FROM holding WHERE as_of <= :as_of "
    "ORDER BY person_key, institution, account_key, as_of DESC, id DESC"
)


def _review_overdue(
    session: Session, scope: Scope, t: Thresholds, *, kind: str, months: int
) -> list[Finding]:
    due = add_months(scope.as_of, -months)
    rows = session.execute(
        text(
            f"WITH paid AS ({_PAID_HOUSEHOLDS}), "
            "last AS (SELECT county_code, household_id, max(reviewed_on) AS reviewed_on "
            "  FROM household_review WHERE kind = :kind AND reviewed_on <= :as_of GROUP BY 1, 2) "
            "SELECT q.county_code, q.fund_code, j.name AS jname, f.name AS fname, count(*) AS n, "
            "  count(*) FILTER (WHERE l.reviewed_on IS NULL) AS never, "
            "  (array_agg(q.household_id ORDER BY q.household_id))[1:CAST(:lim AS int)] AS ids "
            "FROM paid q LEFT JOIN last l ON l.county_code = q.county_code "
            "  AND l.household_id = q.household_id "
            "JOIN jurisdiction j ON j.code = q.county_code JOIN fund f ON f.code = q.fund_code "
            "WHERE (l.reviewed_on IS NULL OR l.reviewed_on < :due) AND EXISTS (SELECT 1 FROM "
            "  household_review r WHERE r.county_code = q.county_code AND r.reviewed_on <= :as_of) "
            "GROUP BY q.county_code, q.fund_code, j.name, f.name ORDER BY 1, 2"
        ),
        {
            "pattern": scope.pattern,
            "period": scope.period,
            "as_of": scope.as_of,
            "due": due,
            "kind": kind,
            "lim": t.evidence_limit,
        },
    ).all()
    what = {"information_check": "家庭经济状况信息化核对", "home_visit": "入户调查"}[kind]
    return [
        Finding(
            rule=f"{kind}_overdue",
            severity="warning",
            jurisdiction=r.county_code,
            fund=r.fund_code,
            period=scope.period,
            message=(
                f"{r.jname}{r.fname}本期发放的{r.n}户家庭超过{months}个月未做{what}"
                f"（其中{r.never}户没有记录）。"
            ),
            evidence={
                "household_ids": list(r.ids),
                "count": int(r.n),
                "never_reviewed": int(r.never),
                "due": due.isoformat(),
            },
        )
        for r in rows
    ]


def information_check_overdue(session: Session, scope: Scope, t: Thresholds) -> list[Finding]:
    return _review_overdue(session, scope, t, kind="information_check", months=t.review_months)


def home_visit_overdue(session: Session, scope: Scope, t: Thresholds) -> list[Finding]:
    return _review_overdue(session, scope, t, kind="home_visit", months=t.home_visit_months)


def holdings_above_limit(session: Session, scope: Scope, t: Thresholds) -> list[Finding]:
    rows = session.execute(
        text(
            f"WITH paid AS ({_PAID_HOUSEHOLDS}), cur AS ({_CURRENT_HOLDINGS}), "
            "held AS (SELECT q.county_code, q.fund_code, q.household_id, q.size, "
            "  sum(c.value_fen) AS fen, (array_agg(c.id ORDER BY c.id))[1:CAST(:lim AS int)] AS ids "
            "  FROM paid q JOIN cur c ON c.person_key = ANY(q.people) GROUP BY 1, 2, 3, 4), "
            "lim AS (SELECT h.*, (SELECT l.per_person_fen FROM asset_limit l "
            "  WHERE l.fund_code = h.fund_code AND l.effective_from <= :period "
            "  AND l.jurisdiction_code IN (h.county_code, substr(h.county_code, 1, 4) || '00') "
            "  ORDER BY (l.jurisdiction_code = h.county_code) DESC, l.effective_from DESC, l.id DESC "
            "  LIMIT 1) AS per_person FROM held h) "
            "SELECT lim.*, j.name AS jname, f.name AS fname FROM lim "
            "JOIN jurisdiction j ON j.code = lim.county_code JOIN fund f ON f.code = lim.fund_code "
            "WHERE lim.per_person IS NOT NULL AND lim.fen > lim.per_person * lim.size "
            "ORDER BY lim.county_code, lim.fund_code, lim.household_id"
        ),
        {
            "pattern": scope.pattern,
            "period": scope.period,
            "as_of": scope.as_of,
            "lim": t.evidence_limit,
        },
    ).all()
    return [
        Finding(
            rule="holdings_above_limit",
            severity="warning",
            jurisdiction=r.county_code,
            fund=r.fund_code,
            period=scope.period,
            message=(
                f"{r.jname}{r.fname}家庭{r.household_id}（{r.size}人）截至{scope.as_of.isoformat()}"
                f"的存款、有价证券和商业保险合计{_yuan(r.fen)}元，超过资产限额"
                f"{_yuan(r.per_person * r.size)}元，仍在发放。"
            ),
            evidence={
                "household_id": r.household_id,
                "holding_ids": list(r.ids),
                "holdings_fen": int(r.fen),
                "limit_fen": int(r.per_person * r.size),
            },
        )
        for r in rows
    ]


def undeclared_holding(session: Session, scope: Scope, t: Thresholds) -> list[Finding]:
    rows = session.execute(
        text(
            f"WITH paid AS ({_PAID_HOUSEHOLDS}), cur AS ({_CURRENT_HOLDINGS}), "
            "checked AS (SELECT DISTINCT ON (county_code, household_id) id, county_code, "
            "  household_id, reviewed_on, assets_fen FROM household_review "
            "  WHERE kind = 'information_check' AND reviewed_on <= :as_of "
            "  ORDER BY county_code, household_id, reviewed_on DESC, id DESC) "
            "SELECT q.county_code, q.fund_code, q.household_id, k.id AS review_id, "
            "  k.reviewed_on, j.name AS jname, f.name AS fname, sum(c.value_fen) AS fen, "
            "  (array_agg(c.id ORDER BY c.id))[1:CAST(:lim AS int)] AS ids "
            "FROM paid q JOIN checked k ON k.county_code = q.county_code "
            "  AND k.household_id = q.household_id AND k.assets_fen = 0 "
            "JOIN cur c ON c.person_key = ANY(q.people) AND c.value_fen > 0 "
            "JOIN jurisdiction j ON j.code = q.county_code JOIN fund f ON f.code = q.fund_code "
            "GROUP BY 1, 2, 3, 4, 5, 6, 7 ORDER BY 1, 2, 3"
        ),
        {
            "pattern": scope.pattern,
            "period": scope.period,
            "as_of": scope.as_of,
            "lim": t.evidence_limit,
        },
    ).all()
    return [
        Finding(
            rule="undeclared_holding",
            severity="warning",
            jurisdiction=r.county_code,
            fund=r.fund_code,
            period=scope.period,
            message=(
                f"{r.jname}{r.fname}家庭{r.household_id}于{r.reviewed_on.isoformat()}核对为无金融"
                f"资产，但金融机构报告其成员持有{_yuan(r.fen)}元。"
            ),
            evidence={
                "household_id": r.household_id,
                "review_id": r.review_id,
                "holding_ids": list(r.ids),
                "holdings_fen": int(r.fen),
            },
        )
        for r in rows
    ]


def complaint_overdue(session: Session, scope: Scope, t: Thresholds) -> list[Finding]:
    rows = session.execute(
        text(
            "SELECT c.jurisdiction_code, j.name AS jname, count(*) AS n, "
            "  count(*) FILTER (WHERE c.closed_on IS NULL OR c.closed_on > :as_of) AS still_open, "
            "  min(c.deadline) AS oldest, "
            "  (array_agg(c.reference ORDER BY c.deadline, c.id))[1:CAST(:lim AS int)] AS refs "
            "FROM complaint c JOIN jurisdiction j ON j.code = c.jurisdiction_code "
            "WHERE c.jurisdiction_code LIKE :pattern AND c.deadline < :as_of "
            "AND c.received_on <= :as_of AND (c.closed_on IS NULL OR c.closed_on > c.deadline) "
            "GROUP BY c.jurisdiction_code, j.name ORDER BY 1"
        ),
        {"pattern": scope.pattern, "as_of": scope.as_of, "lim": t.evidence_limit},
    ).all()
    return [
        Finding(
            rule="complaint_overdue",
            severity="warning",
            jurisdiction=r.jurisdiction_code.strip(),
            fund=None,
            period=scope.period,
            message=(
                f"{r.jname}有{r.n}件投诉举报未在期限内办结（其中{r.still_open}件截至"
                f"{scope.as_of.isoformat()}仍未办结），最早期限为{r.oldest.isoformat()}。"
            ),
            evidence={
                "complaint_references": list(r.refs),
                "count": int(r.n),
                "still_open": int(r.still_open),
                "oldest": r.oldest.isoformat(),
            },
        )
        for r in rows
    ]


def last_complete_year(as_of: date) -> int:
    """The fiscal year (the calendar year) whose last day the report's date has reached."""
    return as_of.year if (as_of.month, as_of.day) == (12, 31) else as_of.year - 1


def appropriation_decreased(session: Session, scope: Scope, t: Thresholds) -> list[Finding]:
    year = last_complete_year(scope.as_of)

    def own(y: int) -> dict[tuple[str, str], int]:
        figures = flow_figures(
            session, pattern=scope.pattern, start=date(y, 1, 1), end=date(y, 12, 31)
        )
        return {k: fig.own_appropriation for k, fig in figures.items()}

    now, before = own(year), own(year - 1)
    names: dict[str, str] = {
        str(c).strip(): str(n)
        for c, n in session.execute(text("SELECT code, name FROM jurisdiction")).tuples()
    }
    funds: dict[str, str] = dict(
        session.execute(text("SELECT code, name FROM fund")).tuples().all()
    )
    out = []
    for (j, fund), prev in sorted(before.items()):
        cur = now.get((j, fund), 0)
        if prev > 0 and cur < prev:
            out.append(
                Finding(
                    rule="appropriation_decreased",
                    severity="warning",
                    jurisdiction=j,
                    fund=fund,
                    period=scope.period,
                    message=(
                        f"{names.get(j, j)}{funds.get(fund, fund)}{year}年本级拨款{_yuan(cur)}元，"
                        f"低于{year - 1}年的{_yuan(prev)}元，未做到政府投入只增不减。"
                    ),
                    evidence={
                        "fiscal_year": year,
                        "appropriated_fen": cur,
                        "previous_fen": prev,
                    },
                )
            )
    return out


RULES = (
    special_cash_idle,
    transfer_not_paid_out,
    failed_not_reissued,
    information_check_overdue,
    home_visit_overdue,
    holdings_above_limit,
    undeclared_holding,
    complaint_overdue,
    appropriation_decreased,
)
RULE_NAMES = tuple(rule.__name__ for rule in RULES)


def evaluate(session: Session, scope: Scope, thresholds: Thresholds | None = None) -> list[Finding]:
    """Every rule for ``scope``, computed now from the books; nothing is written."""
    t = thresholds or load_thresholds()
    found: list[Finding] = []
    for rule in RULES:
        found.extend(rule(session, scope, t))
    return found


STATUS_LABELS = {"open": "未处理", "acknowledged": "已确认", "resolved": "已整改"}


@dataclass(frozen=True)
class ReportFinding(Finding):
    """A finding as a report shows it: its stored id and status (open, acknowledged, resolved)
    and who acknowledged it. Findings the rules evaluate for the report's date are open."""

    status: str = "open"
    finding_id: int | None = None
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    ack_reason: str | None = None


def surface_batch_findings(session: Session, scope: Scope) -> list[ReportFinding]:
    """Findings the batch checks stored for the period in scope, each counted once.

    Only batches that are not cancelled. A batch checked more than once keeps the findings of
    its latest check run (open, or acknowledged with who and why); a finding of an earlier run
    that the latest run no longer finds was fixed at the source and is shown as resolved.
    Rows of our own stored rule runs are not batch findings."""
    rows = session.execute(
        text(
            "WITH f AS (SELECT f.*, (f.batch_id IS NULL OR f.run_id IS NOT DISTINCT FROM "
            "  (SELECT l.run_id FROM finding l WHERE l.batch_id = f.batch_id "
            "   ORDER BY l.id DESC LIMIT 1)) AS latest "
            "  FROM finding f LEFT JOIN payment_batch b ON b.id = f.batch_id "
            "  WHERE f.jurisdiction_code LIKE :pattern AND f.period = :period "
            "  AND (b.id IS NULL OR b.status <> 'cancelled') "
            "  AND NOT EXISTS (SELECT 1 FROM finding_run r WHERE r.id = f.run_id)) "
            "SELECT DISTINCT ON (COALESCE(batch_id, -id), rule, evidence) id, rule, severity, "
            "  jurisdiction_code, fund_code, period, batch_id, message, evidence, latest, "
            "  acknowledged_by, acknowledged_at, ack_reason "
            "FROM f ORDER BY COALESCE(batch_id, -id), rule, evidence, latest DESC, id DESC"
        ),
        {"pattern": scope.pattern, "period": scope.period},
    ).all()
    out = []
    for r in sorted(rows, key=lambda r: r.id):
        status = "resolved" if not r.latest else "acknowledged" if r.acknowledged_by else "open"
        out.append(
            ReportFinding(
                rule=r.rule,
                severity=r.severity,
                jurisdiction=r.jurisdiction_code.strip(),
                fund=r.fund_code,
                period=r.period,
                batch_id=r.batch_id,
                message=r.message,
                evidence=dict(r.evidence or {}),
                status=status,
                finding_id=r.id,
                acknowledged_by=r.acknowledged_by,
                acknowledged_at=r.acknowledged_at,
                ack_reason=r.ack_reason,
            )
        )
    return out


def as_report(f: Finding) -> ReportFinding:
    return ReportFinding(**{k.name: getattr(f, k.name) for k in fields(Finding)})


def all_findings(session: Session, scope: Scope) -> list[ReportFinding]:
    """The batch findings and the rules' findings, most severe first, in a stable order."""
    found = surface_batch_findings(session, scope) + [
        as_report(f) for f in evaluate(session, scope)
    ]
    return sorted(
        found,
        key=lambda f: (
            SEVERITY_ORDER.get(f.severity, 9),
            f.rule,
            f.jurisdiction,
            f.fund or "",
            f.batch_id or 0,
            json.dumps(f.evidence, sort_keys=True, default=str),
        ),
    )


@dataclass(frozen=True)
class RuleGroup:
    """The findings of one rule, with counts by status."""

    rule: str
    label: str
    severity: str
    findings: tuple[ReportFinding, ...]

    @property
    def count(self) -> int:
        return len(self.findings)

    def by_status(self, status: str) -> int:
        return sum(1 for f in self.findings if f.status == status)


def group_by_rule(found: Iterable[ReportFinding]) -> list[RuleGroup]:
    """One group per rule, most severe first, then by rule label."""
    groups: dict[str, list[ReportFinding]] = {}
    for f in found:
        groups.setdefault(f.rule, []).append(f)
    out = [
        RuleGroup(
            rule,
            rule_label(rule),
            min((f.severity for f in items), key=lambda s: SEVERITY_ORDER.get(s, 9)),
            tuple(items),
        )
        for rule, items in groups.items()
    ]
    return sorted(out, key=lambda g: (SEVERITY_ORDER.get(g.severity, 9), g.rule))


_EVIDENCE_LABELS = {
    "payout_id": "发放明细",
    "payout_ids": "发放明细",
    "existing_payout_id": "已有发放明细",
    "references": "发放编号",
    "household_id": "家庭",
    "household_ids": "家庭",
    "death_record_id": "死亡登记",
    "payroll_id": "财政供养登记",
    "staff_relative_id": "近亲属登记",
    "other_fund": "另一资金项目",
    "other_county": "另一县区",
    "batch_id": "批次",
    "entry_id": "分录",
    "account_id": "账户",
    "last_outflow_entry_id": "最近一次支出分录",
    "county_standard_id": "县级标准",
    "city_standard_id": "市级标准",
    "count": "笔（户）数",
    "never_reviewed": "从未复核户数",
    "received_on": "收到日期",
    "since": "起始日期",
    "oldest": "最早日期",
    "due": "应复核日期",
    "holding_ids": "金融资产登记",
    "review_id": "复核记录",
    "fiscal_year": "年度",
    "complaint_references": "投诉编号",
    "still_open": "仍未办结件数",
}
_EVIDENCE_LIMIT = 10


def _evidence_value(value: Any) -> str:
    if isinstance(value, list):
        shown = "、".join(str(v) for v in value[:_EVIDENCE_LIMIT])
        return shown + (f" 等 {len(value)} 项" if len(value) > _EVIDENCE_LIMIT else "")
    return str(value)


def evidence_text(evidence: dict[str, Any]) -> str:
    """The evidence in plain Chinese: labelled ids, amounts in yuan, long lists shortened."""
    parts = []
    for key, value in evidence.items():
        if value is None or value == [] or key == "finding_id":
            continue
        if key.endswith("_fen") and isinstance(value, int):
            label = {
                "idle_fen": "闲置金额",
                "balance_fen": "期末余额",
                "amount_fen": "金额",
                "unpaid_fen": "未拨付金额",
                "total_fen": "批次金额",
                "special_cash_fen": "专户余额",
                "standard_fen": "标准",
                "holdings_fen": "金融资产",
                "limit_fen": "资产限额",
                "appropriated_fen": "本年本级拨款",
                "previous_fen": "上年本级拨款",
            }.get(key, "金额")
            parts.append(f"{label} {format_fen(value)} 元")
        else:
            parts.append(f"{_EVIDENCE_LABELS.get(key, key)}：{_evidence_value(value)}")
    return "；".join(parts)


def run_findings(session: Session, *, scope: Scope, run_by: str) -> dict[str, Any]:
    """Evaluate the rules and store the run and its findings in one transaction."""
    thresholds = load_thresholds()
    found = evaluate(session, scope, thresholds)
    run_id = f"run-{secrets.token_hex(8)}"
    head = session.execute(text("SELECT hash FROM chain_head")).scalar_one()
    session.execute(
        text(
            "INSERT INTO finding_run (id, jurisdiction_code, period, as_of, thresholds, "
            "finding_count, chain_head, run_by) VALUES (:id, :j, :p, :d, CAST(:t AS jsonb), :n, "
            ":h, :by)"
        ),
        {
            "id": run_id,
            "j": scope.jurisdiction,
            "p": scope.period,
            "d": scope.as_of,
            "t": thresholds.model_dump_json(),
            "n": len(found),
            "h": head,
            "by": run_by,
        },
    )
    if found:
        session.execute(
            text(
                "INSERT INTO finding (rule, severity, jurisdiction_code, fund_code, period, "
                "message, evidence, run_id) SELECT * FROM unnest(CAST(:rule AS text[]), "
                "CAST(:sev AS text[]), CAST(:jur AS text[]), CAST(:fund AS text[]), "
                "CAST(:per AS text[]), CAST(:msg AS text[]), CAST(:ev AS jsonb[]), "
                "CAST(:run AS text[]))"
            ),
            {
                "rule": [f.rule for f in found],
                "sev": [f.severity for f in found],
                "jur": [f.jurisdiction for f in found],
                "fund": [f.fund for f in found],
                "per": [f.period for f in found],
                "msg": [f.message for f in found],
                "ev": [json.dumps(f.evidence, ensure_ascii=False) for f in found],
                "run": [run_id] * len(found),
            },
        )
    result = {
        "run_id": run_id,
        "jurisdiction": scope.jurisdiction,
        "period": scope.period,
        "as_of": scope.as_of.isoformat(),
        "finding_count": len(found),
        "chain_head": head,
    }
    return result


def stored_run(session: Session, *, run_id: str) -> list[Finding]:
    rows = session.execute(
        text(
            "SELECT rule, severity, jurisdiction_code, fund_code, period, batch_id, message, "
            "evidence FROM finding WHERE run_id = :r ORDER BY id"
        ),
        {"r": run_id},
    ).all()
    return [
        Finding(
            rule=r.rule,
            severity=r.severity,
            jurisdiction=r.jurisdiction_code,
            fund=r.fund_code,
            period=r.period,
            batch_id=r.batch_id,
            message=r.message,
            evidence=dict(r.evidence or {}),
        )
        for r in rows
    ]


def run_scope(session: Session, *, run_id: str) -> tuple[str, str] | None:
    row = session.execute(
        text("SELECT jurisdiction_code, period FROM finding_run WHERE id = :r"), {"r": run_id}
    ).first()
    return (row.jurisdiction_code, row.period) if row else None


# ---- exports -------------------------------------------------------------------------------

EXPORT_HEADER = ("规则 rule", "严重程度 severity", "行政区划 jurisdiction", "资金 fund", "期间 period",
                 "批次 batch", "说明 message", "证据 evidence", "规则名称 rule name",
                 "状态 status", "确认人 acknowledged by", "确认日期 acknowledged on",
                 "确认理由 reason")  # fmt: skip


def findings_table(found: Iterable[Finding]) -> Table:
    """One finding per row: the rule's code and Chinese name, the evidence in plain Chinese,
    its status and who acknowledged it."""

    def rows() -> Iterator[tuple[Cell, ...]]:
        for f in found:
            at = getattr(f, "acknowledged_at", None)
            yield (
                f.rule,
                f.severity,
                f.jurisdiction,
                f.fund,
                f.period,
                f.batch_id,
                f.message,
                evidence_text(f.evidence),
                rule_label(f.rule),
                STATUS_LABELS.get(getattr(f, "status", "open"), "未处理"),
                getattr(f, "acknowledged_by", None),
                at.date().isoformat() if at else None,
                getattr(f, "ack_reason", None),
            )

    return Table("审计发现", EXPORT_HEADER, rows())


def findings_csv(found: Iterable[Finding]) -> bytes:
    """UTF-8 with a BOM (so Excel reads the Chinese), one finding per row, formulas defused."""
    return csv_bytes(findings_table(found))


def finding_dict(f: Finding) -> dict[str, Any]:
    return asdict(f)
