"""Performance evaluation (绩效评价) per jurisdiction, fund and fiscal year, and the notice's
registers as the audit report counts them (review coverage, complaints). Defined once here;
the API, the audit PDF and the province-wide ranking read these functions.

Per (jurisdiction, fund), over the fiscal year (the calendar year) up to the report's date:

* execution rate (执行率) — ``ledger.figures``' one definition, of the jurisdiction's own books;
* days to people (拨付到人天数) — the mean days from each transfer received to the first batch
  released to people on or after that day, in the same books (transfers not yet followed by a
  release are left out and counted in ``transfers_waiting``);
* reissued in time (失败重发及时率) — of the year's failed or returned payouts, the share reissued
  in a batch released within ``reissue_days`` of the failure;
* findings per 1,000 payouts — stored findings (batch checks and stored rule runs) of the year's
  periods per 1,000 payout lines released in them;
* review coverage (复核覆盖率) — of the households paid in the report's period, the share whose
  last information check is within ``review_months`` of the report's date.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import Result, Row, text
from sqlalchemy.orm import Session

from ledger.figures import flow_figures
from reports.findings import Thresholds, load_thresholds
from reports.scope import Scope, add_months

PLACES = Decimal("0.01")


def share(part: int, whole: int, *, per: int = 100) -> Decimal | None:
    """part ÷ whole × per, two places ROUND_HALF_UP; None when the whole is zero."""
    if whole <= 0:
        return None
    return (Decimal(part) * per / Decimal(whole)).quantize(PLACES, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class ReviewCoverage:
    county: str
    fund: str
    households: int
    checked: int  # information check within review_months
    visited: int  # home visit within home_visit_months

    @property
    def check_rate(self) -> Decimal | None:
        return share(self.checked, self.households)

    @property
    def visit_rate(self) -> Decimal | None:
        return share(self.visited, self.households)


def review_coverage(
    session: Session, scope: Scope, t: Thresholds | None = None
) -> list[ReviewCoverage]:
    """Per (county, fund): households paid in the period and how many are reviewed in time."""
    t = t or load_thresholds()
    rows = session.execute(
        text(
            "WITH paid AS (SELECT DISTINCT county_code, fund_code, household_id FROM payout "
            "  WHERE county_code LIKE :pattern AND period = :period AND state IN ('sent', 'paid')), "
            "last AS (SELECT county_code, household_id, "
            "  max(reviewed_on) FILTER (WHERE kind = 'information_check') AS checked, "
            "  max(reviewed_on) FILTER (WHERE kind = 'home_visit') AS visited "
            "  FROM household_review WHERE reviewed_on <= :as_of GROUP BY 1, 2) "
            "SELECT q.county_code, q.fund_code, count(*) AS n, "
            "  count(*) FILTER (WHERE l.checked >= :check_due) AS checked, "
            "  count(*) FILTER (WHERE l.visited >= :visit_due) AS visited "
            "FROM paid q LEFT JOIN last l ON l.county_code = q.county_code "
            "  AND l.household_id = q.household_id GROUP BY 1, 2 ORDER BY 1, 2"
        ),
        {
            "pattern": scope.pattern,
            "period": scope.period,
            "as_of": scope.as_of,
            "check_due": add_months(scope.as_of, -t.review_months),
            "visit_due": add_months(scope.as_of, -t.home_visit_months),
        },
    ).all()
    return [
        ReviewCoverage(r.county_code.strip(), r.fund_code, int(r.n), int(r.checked), int(r.visited))
        for r in rows
    ]


@dataclass(frozen=True)
class ComplaintCounts:
    received: int
    closed: int
    open: int
    overdue: int  # not closed by the deadline, the deadline before the report's date


def complaint_counts(session: Session, scope: Scope) -> ComplaintCounts:
    """Complaints of the subtree received in the fiscal year up to the report's date."""
    r = session.execute(
        text(
            "SELECT count(*) AS n, "
            "  count(*) FILTER (WHERE closed_on <= :as_of) AS closed, "
            "  count(*) FILTER (WHERE deadline < :as_of "
            "    AND (closed_on IS NULL OR closed_on > deadline)) AS overdue "
            "FROM complaint WHERE jurisdiction_code LIKE :pattern "
            "AND received_on BETWEEN :start AND :as_of"
        ),
        {"pattern": scope.pattern, "start": scope.year_start, "as_of": scope.as_of},
    ).one()
    return ComplaintCounts(int(r.n), int(r.closed), int(r.n) - int(r.closed), int(r.overdue))


@dataclass(frozen=True)
class Performance:
    jurisdiction: str
    fund: str
    fiscal_year: int
    execution_rate: Decimal | None
    days_to_people: Decimal | None
    transfers_waiting: int
    failed: int
    reissued_in_time: int
    payouts: int
    findings: int
    households: int
    reviewed: int

    @property
    def reissued_in_time_rate(self) -> Decimal | None:
        return share(self.reissued_in_time, self.failed)

    @property
    def findings_per_thousand(self) -> Decimal | None:
        return share(self.findings, self.payouts, per=1000)

    @property
    def review_coverage(self) -> Decimal | None:
        return share(self.reviewed, self.households)


def _by_key(rows: Result[Any]) -> dict[tuple[str, str], Row[Any]]:
    return {(r.j.strip(), r.f): r for r in rows}


def performance(session: Session, scope: Scope, t: Thresholds | None = None) -> list[Performance]:
    """One row per (jurisdiction, fund) of the subtree with books or payouts in the year."""
    t = t or load_thresholds()
    start, end, year = scope.year_start, scope.as_of, scope.as_of.year
    figures = flow_figures(session, pattern=scope.pattern, start=start, end=end)
    params = {"pattern": scope.pattern, "start": start, "end": end, "year": f"{year}%",
              "days": t.reissue_days}  # fmt: skip
    days = _by_key(
        session.execute(
            text(
                "WITH mv AS (SELECT a.jurisdiction_code AS j, a.fund_code AS f, a.kind, p.side, "
                "  e.kind AS ekind, e.effective_date AS d FROM posting p "
                "  JOIN account a ON a.id = p.account_id JOIN journal_entry e ON e.id = p.entry_id "
                "  WHERE a.jurisdiction_code LIKE :pattern AND e.effective_date <= :end), "
                "rec AS (SELECT j, f, d, (SELECT min(r.d) FROM mv r WHERE r.j = mv.j AND r.f = mv.f "
                "  AND r.kind = 'in_transit' AND r.side = 'D' AND r.ekind = 'batch_release' "
                "  AND r.d >= mv.d) AS released FROM mv WHERE kind = 'transfer_in' AND side = 'C' "
                "  AND d >= :start) "
                "SELECT j, f, avg(released - d) AS days, count(*) FILTER (WHERE released IS NULL) "
                "  AS waiting FROM rec GROUP BY 1, 2"
            ),
            params,
        )
    )
    payouts = _by_key(
        session.execute(
            text(
                "SELECT p.county_code AS j, p.fund_code AS f, "
                "  count(*) FILTER (WHERE p.state <> 'draft' AND p.state <> 'cancelled') AS n, "
                "  count(*) FILTER (WHERE p.state IN ('failed', 'returned', 'reissued')) AS failed, "
                "  count(*) FILTER (WHERE p.state IN ('failed', 'returned', 'reissued') AND EXISTS ("
                "    SELECT 1 FROM payout r JOIN payment_batch b ON b.id = r.batch_id "
                "    JOIN journal_entry re ON re.id = b.release_entry_id "
                "    WHERE r.reissue_of = p.id AND re.effective_date <= "
                "      COALESCE(fe.effective_date, CAST(p.updated_at AS date)) + :days)) AS in_time "
                "FROM payout p LEFT JOIN journal_entry fe ON fe.id = p.last_entry_id "
                "WHERE p.county_code LIKE :pattern AND p.period LIKE :year GROUP BY 1, 2"
            ),
            params,
        )
    )
    found = _by_key(
        session.execute(
            text(
                "SELECT jurisdiction_code AS j, fund_code AS f, count(*) AS n FROM finding "
                "WHERE jurisdiction_code LIKE :pattern AND period LIKE :year "
                "AND fund_code IS NOT NULL GROUP BY 1, 2"
            ),
            params,
        )
    )
    coverage = {(c.county, c.fund): c for c in review_coverage(session, scope, t)}
    keys = sorted(set(figures) | set(days) | set(payouts))
    out = []
    for key in keys:
        fig, d, p, fn, cov = (
            figures.get(key),
            days.get(key),
            payouts.get(key),
            found.get(key),
            coverage.get(key),
        )
        out.append(
            Performance(
                jurisdiction=key[0],
                fund=key[1],
                fiscal_year=year,
                execution_rate=fig.execution_rate if fig else None,
                days_to_people=(
                    Decimal(d.days).quantize(PLACES, rounding=ROUND_HALF_UP)
                    if d is not None and d.days is not None
                    else None
                ),
                transfers_waiting=int(d.waiting) if d else 0,
                failed=int(p.failed) if p else 0,
                reissued_in_time=int(p.in_time) if p else 0,
                payouts=int(p.n) if p else 0,
                findings=int(fn.n) if fn else 0,
                households=cov.households if cov else 0,
                reviewed=cov.checked if cov else 0,
            )
        )
    return out


def ranking(rows: list[Performance]) -> list[tuple[int, Performance]]:
    """The province-wide ranking table: by execution rate (highest first), then fewer findings
    per 1,000 payouts, then fewer days to people; rows without a rate last."""

    def order(p: Performance) -> tuple[bool, Decimal, Decimal, Decimal, str, str]:
        big = Decimal(10**9)
        return (
            p.execution_rate is None,
            -(p.execution_rate or Decimal(0)),
            p.findings_per_thousand if p.findings_per_thousand is not None else big,
            p.days_to_people if p.days_to_people is not None else big,
            p.jurisdiction,
            p.fund,
        )

    return list(enumerate(sorted(rows, key=order), start=1))
