"""Demo stage ``reports``: disclosure and audit PDFs of one county and the province's audit PDF,
downloaded through the API as an auditor and a civil-affairs user would."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import text

from ledger.demo import DemoContext, Stage
from ledger.jurisdictions.catalog import PROVINCE


def _county_with_payouts(ctx: DemoContext) -> tuple[str, str]:
    """The first demo county (and its first fund) with disclosed payouts this period."""
    with ctx.session() as s:
        rows = s.execute(
            text(
                "SELECT DISTINCT county_code, fund_code FROM payout WHERE period = :p "
                "AND state IN ('sent', 'paid') ORDER BY 1, 2"
            ),
            {"p": ctx.period},
        ).all()
    having: dict[str, str] = {}
    for r in rows:
        having.setdefault(r.county_code.strip(), r.fund_code)
    for county in ctx.counties:
        if county in having:
            return county, having[county]
    return ctx.counties[0], "urban_minimum_living"


def stage_reports(ctx: DemoContext) -> dict[str, Any]:
    """Disclosure and audit PDFs for a county, the province's audit PDF, into DIR/reports/."""
    county, fund = _county_with_payouts(ctx)
    out = ctx.out / "reports"
    out.mkdir(parents=True, exist_ok=True)
    auditor = ctx.user("auditor", PROVINCE)
    civil = ctx.user("civil_affairs", county)
    wanted = [
        (
            f"disclosure-{county}-{fund}-{ctx.period}.pdf",
            "/reports/disclosure",
            civil,
            {"jurisdiction": county, "fund": fund, "period": ctx.period},
        ),
        (
            f"audit-{county}-{ctx.period}.pdf",
            "/reports/audit",
            auditor,
            {"jurisdiction": county, "period": ctx.period},
        ),
        (
            f"audit-{PROVINCE}-{ctx.period}.pdf",
            "/reports/audit",
            auditor,
            {"jurisdiction": PROVINCE, "period": ctx.period},
        ),
    ]
    files = {}
    for name, path, user, params in ctx.track(wanted, "PDFs", len(wanted)):
        body = ctx.call("GET", path, user=user, params=params).content
        (out / name).write_bytes(body)
        files[name] = {"sha256": hashlib.sha256(body).hexdigest(), "bytes": len(body)}
    report = {"county": county, "fund": fund, "period": ctx.period, "files": files}
    ctx.summary["report"] = report
    return report


STAGES = [Stage("reports", stage_reports, "disclosure and audit PDFs")]
