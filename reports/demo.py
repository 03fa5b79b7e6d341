"""Demo stage ``reports``: the books signed in a checkpoint, then the disclosure (the county's
and one village's in large print), the audit PDFs of the county and the province, and the
findings and payouts as XLSX and CSV, downloaded through the API as a civil-affairs user and an
auditor would; every PDF prints the checkpoint."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from ledger.access.service import principal_of
from ledger.demo import DemoContext, Stage
from ledger.evidence import checkpoint as cp
from ledger.evidence import payout_proof
from ledger.evidence.service import make_checkpoint
from ledger.jurisdictions.catalog import PROVINCE
from ledger.uow import operator_write
from reports import bundle
from reports.scope import Scope


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


def _sign(session: Session) -> dict[str, Any]:
    made = make_checkpoint(session)
    return {"tree_size": made.tree_size, "root": made.root}


def _first_village(ctx: DemoContext, county: str, fund: str) -> tuple[str, str] | None:
    with ctx.session() as s:
        row = s.execute(
            text(
                "SELECT township, village FROM payout WHERE county_code = :c AND fund_code = :f "
                "AND period = :p AND state IN ('sent', 'paid') AND village <> '' "
                "ORDER BY township, village LIMIT 1"
            ),
            {"c": county, "f": fund, "p": ctx.period},
        ).first()
    return None if row is None else (row.township, row.village)


def stage_reports(ctx: DemoContext) -> dict[str, Any]:
    """Disclosure and audit PDFs for a county, the province's audit PDF, into DIR/reports/."""
    county, fund = _county_with_payouts(ctx)
    out = ctx.out / "reports"
    out.mkdir(parents=True, exist_ok=True)
    signed = operator_write(
        ctx.engine,
        action="demo:checkpoint",
        operator=f"demo:{ctx.tag}",
        object_type="checkpoint",
        work=_sign,
    )
    auditor = ctx.user("auditor", PROVINCE)
    civil = ctx.user("civil_affairs", county)
    disclosure = {"jurisdiction": county, "fund": fund, "period": ctx.period}
    village = _first_village(ctx, county, fund)
    wanted = [
        (f"disclosure-{county}-{fund}-{ctx.period}.pdf", "/reports/disclosure", civil, disclosure),
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
        (
            f"findings-{PROVINCE}-{ctx.period}.xlsx",
            f"/jurisdictions/{PROVINCE}/findings.xlsx",
            auditor,
            {"period": ctx.period},
        ),
        (
            f"payouts-{county}-{ctx.period}.xlsx",
            f"/jurisdictions/{county}/payouts.xlsx",
            auditor,
            {"period": ctx.period},
        ),
        (
            f"payouts-{county}-{ctx.period}.csv",
            f"/jurisdictions/{county}/payouts.csv",
            auditor,
            {"period": ctx.period},
        ),
    ]
    if village is not None:
        wanted.insert(
            1,
            (
                f"disclosure-{county}-{fund}-{ctx.period}-village-large.pdf",
                "/reports/disclosure",
                civil,
                {
                    **disclosure,
                    "township": village[0],
                    "village": village[1],
                    "large_print": "true",
                },
            ),
        )
    files = {}
    for name, path, user, params in ctx.track(wanted, "PDFs", len(wanted)):
        body = ctx.call("GET", path, user=user, params=params).content
        (out / name).write_bytes(body)
        files[name] = {"sha256": hashlib.sha256(body).hexdigest(), "bytes": len(body)}
    report = {
        "county": county,
        "fund": fund,
        "period": ctx.period,
        "checkpoint": signed,
        "files": files,
    }
    ctx.summary["report"] = report
    return report


def _write_json(path: Any, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def stage_evidence(ctx: DemoContext) -> dict[str, Any]:
    """A checkpoint in DIR/checkpoint.json, one payout's proof in DIR/proofs/ checked offline
    (from the files alone), and the county's audit bundle, built as the province's auditor."""
    county, _ = _county_with_payouts(ctx)
    made: list[cp.Checkpoint] = []

    def sign(session: Session) -> dict[str, Any]:
        made.append(make_checkpoint(session))
        return {"tree_size": made[0].tree_size, "root": made[0].root}

    operator_write(
        ctx.engine, action="demo:checkpoint", operator=f"demo:{ctx.tag}",
        object_type="checkpoint", work=sign,
    )  # fmt: skip
    _write_json(ctx.out / "checkpoint.json", made[0].as_dict())
    held = cp.read_file(ctx.out / "checkpoint.json")
    held.verify_signature(made[0].key_id)
    proofs: dict[str, Any] = {}
    with ctx.session() as s:
        references = bundle.proof_references(s, Scope(county, ctx.period), limit=1)
        for reference in references:
            path = ctx.out / "proofs" / f"{reference}.json"
            _write_json(path, payout_proof.build_payout_proof(s, reference, made[0]))
            verified = payout_proof.verify_payout_proof(payout_proof.loads(path.read_bytes()), held)
            proofs[reference] = {"verified": True, "amount_fen": verified.amount_fen}
        auditor = principal_of(s, ctx.user("auditor", PROVINCE))
    packed = bundle.write_audit_bundle(
        ctx.engine, jurisdiction=county, period=ctx.period,
        out=ctx.out / f"audit-bundle-{county}.zip", operator=f"demo:{ctx.tag}",
        principal=auditor,
    )  # fmt: skip
    evidence = {
        "checkpoint": {"tree_size": held.tree_size, "root": held.root, "key_id": held.key_id},
        "proofs": proofs,
        "proofs_verified": sum(1 for p in proofs.values() if p["verified"]),
        "bundle": {
            "file": packed.path.name,
            "files": len(packed.files) + 1,
            "proofs": len(packed.proofs),
        },
    }
    ctx.summary["evidence"] = evidence
    return evidence


STAGES = [Stage("reports", stage_reports, "a checkpoint; disclosure and audit PDFs; XLSX exports")]
