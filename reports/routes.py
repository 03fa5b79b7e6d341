"""Report downloads, findings and the report register.

Who may read what (DESIGN.md, Access): the audit report, the findings and the report register
go to the finance and civil-affairs bureaus of the jurisdiction itself and to auditors (and
admins) of it or of any ancestor; the disclosure, which is public once posted, to any
authenticated user whose scope covers the jurisdiction.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import asdict
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy import text
from sqlalchemy.orm import Session

from ledger.access.deps import (
    AUDIT_ACTION,
    CurrentUser,
    SessionDep,
    Write,
    request_unit_of_work,
    require_public_scope,
    require_role,
    require_scope,
)
from ledger.access.service import Principal
from ledger.domain import PERIOD_PATTERN
from ledger.errors import ERROR_RESPONSES, Forbidden
from ledger.evidence.service import printed_checkpoint
from ledger.jurisdictions.service import fund_code, get_jurisdiction
from ledger.money import fen_to_str
from ledger.paging import CursorQuery, LimitQuery, Page, StrictQuery, decode_cursor, page_of
from ledger.people.routes import PersonKey, file_reader, read_recorded
from ledger.replica import read_snapshot
from reports import exports, findings, performance, service, trace
from reports.models import (
    FindingList,
    FindingPublic,
    FindingRunCreate,
    FindingRunPublic,
    PerformancePublic,
    ReportRecordPublic,
    RuleCount,
    TraceBatchPublic,
    TraceDocumentPublic,
    TracePayoutPublic,
    TraceSummaryPublic,
)
from reports.pdf.person import render_person
from reports.scope import Scope, report_scope

T = TypeVar("T")
router = APIRouter(tags=["reports"], responses=ERROR_RESPONSES)
CodeQuery = Annotated[str, Query(pattern=r"^[0-9]{6}$", examples=["440103"])]
PeriodQuery = Annotated[str, Query(pattern=PERIOD_PATTERN, examples=["202406"])]


PDF_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/pdf": {}}, "description": "The PDF file"}
}


def require_audit_reader(user: Principal, jurisdiction: str) -> None:
    """Auditors and admins of the jurisdiction or an ancestor; its own finance and civil affairs."""
    require_role(user, "auditor", "admin", "finance", "civil_affairs")
    require_scope(user, jurisdiction)
    if user.role in ("finance", "civil_affairs") and user.jurisdiction != jurisdiction:
        raise Forbidden(
            f"the audit report of {jurisdiction} goes to its own bureaus and to auditors",
            [{"field": "jurisdiction", "reason": "not this bureau's jurisdiction"}],
        )


def _stream(built: service.BuiltReport, media_type: str) -> StreamingResponse:
    def chunks() -> Iterator[bytes]:
        try:
            while chunk := built.file.read(1 << 16):
                yield chunk
        finally:
            built.file.close()

    return StreamingResponse(
        chunks(),
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{built.filename}"',
            "Content-Length": str(built.size_bytes),
            "X-Report-SHA256": built.sha256,
            "X-Report-Record": str(built.record_id),
        },
    )


@router.get("/reports/disclosure", response_class=StreamingResponse, responses=PDF_RESPONSE)
def download_disclosure(
    request: Request,
    user: CurrentUser,
    jurisdiction: CodeQuery,
    fund: str,
    period: PeriodQuery,
    village: Annotated[
        str | None, Query(max_length=100, description="one village's file (村/社区 name)")
    ] = None,
    township: Annotated[
        str | None, Query(max_length=100, description="the village's township, if ambiguous")
    ] = None,
    large_print: Annotated[bool, Query(description="14 pt text for a notice board")] = False,
    notice_from: Annotated[
        date | None, Query(description="公示期 start (default: the report's date)")
    ] = None,
    notice_days: Annotated[int, Query(ge=1, le=90, description="公示期 in days")] = 7,
) -> StreamingResponse:
    """The disclosure (公示) PDF: masked names, household size and amount, one page group per
    village (or one village's file), with the 公示期, the standard, the seal area and the
    latest checkpoint."""
    require_public_scope(user, jurisdiction)

    def build(s: Session) -> service.BuiltReport:
        one = None
        if village is not None:
            one = service.find_village(
                s, jurisdiction=jurisdiction, fund=fund, period=period, village=village,
                township=township,
            )  # fmt: skip
        return service.build_disclosure(
            s, jurisdiction=jurisdiction, fund=fund, period=period, generated_by=user.username,
            notice_from=notice_from, notice_days=notice_days, village=one,
            large_print=large_print, checkpoint=printed_checkpoint(s),
        )  # fmt: skip

    return _stream(_recorded(request, user, build), "application/pdf")


@router.get("/reports/audit", response_class=StreamingResponse, responses=PDF_RESPONSE)
def download_audit(
    request: Request, user: CurrentUser, jurisdiction: CodeQuery, period: PeriodQuery
) -> StreamingResponse:
    """The audit (审计) PDF: summary, fund flow, trial balances, outcomes, ageing, findings by
    rule, acknowledgements, integrity and the latest checkpoint."""
    require_audit_reader(user, jurisdiction)
    built = _recorded(
        request,
        user,
        lambda s: service.build_audit(
            s,
            jurisdiction=jurisdiction,
            period=period,
            generated_by=user.username,
            checkpoint=printed_checkpoint(s),
        ),
    )
    return _stream(built, "application/pdf")


@router.get("/reports/records", response_model=list[ReportRecordPublic])
def read_records(
    session: SessionDep,
    user: CurrentUser,
    jurisdiction: CodeQuery,
    sha256: Annotated[str | None, Query(pattern=r"^[0-9a-f]{64}$")] = None,
    period: Annotated[str | None, Query(pattern=PERIOD_PATTERN)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[ReportRecordPublic]:
    """The register of generated reports: look a file's SHA-256 up to prove where it came from."""
    require_audit_reader(user, jurisdiction)
    pattern = Scope(jurisdiction, "200001").pattern
    rows = service.list_records(session, pattern=pattern, sha256=sha256, period=period, limit=limit)
    return [ReportRecordPublic(**r) for r in rows]


@router.get("/jurisdictions/{code}/findings", response_model=FindingList)
def list_findings(
    code: str,
    session: SessionDep,
    user: CurrentUser,
    period: PeriodQuery,
    run_id: Annotated[str | None, Query(pattern=r"^run-[0-9a-f]{16}$")] = None,
) -> FindingList:
    """The findings of a jurisdiction's subtree for a period, each counted once and grouped by
    rule: the rules judged as of the report's date together with the latest check run of each
    live batch (with status open, acknowledged or resolved), or those of one stored run."""
    require_audit_reader(user, code)
    get_jurisdiction(session, code)
    scope = report_scope(session, code, period)
    found: list[findings.ReportFinding]
    if run_id is not None:
        if findings.run_scope(session, run_id=run_id) != (code, period):
            raise Forbidden(f"run {run_id} is not a run of {code} {period}")
        found = [findings.as_report(f) for f in findings.stored_run(session, run_id=run_id)]
    else:
        found = findings.all_findings(session, scope)
    groups = findings.group_by_rule(found)
    return FindingList(
        jurisdiction=code,
        period=period,
        run_id=run_id,
        as_of=scope.as_of,
        count=len(found),
        by_rule=[
            RuleCount(
                rule=g.rule,
                label=g.label,
                severity=g.severity,
                count=g.count,
                open=g.by_status("open"),
                acknowledged=g.by_status("acknowledged"),
                resolved=g.by_status("resolved"),
            )
            for g in groups
        ],
        findings=[FindingPublic(**findings.finding_dict(f)) for f in found],
    )


EXPORT_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {t: {} for t in exports.MEDIA_TYPES.values()}, "description": "The file"}
}


def _export(
    request: Request, user: Principal, what: str, fmt: str, code: str, period: str,
    fund: str | None = None,
) -> StreamingResponse:  # fmt: skip
    require_audit_reader(user, code)
    built = _recorded(
        request,
        user,
        lambda s: service.build_export(
            s,
            what=what,
            fmt=fmt,
            jurisdiction=code,
            period=period,
            fund=fund,
            generated_by=user.username,
        ),
    )
    return _stream(built, exports.MEDIA_TYPES[fmt])


FundQuery = Annotated[str | None, Query(max_length=64, description="one fund, or all")]


@router.get("/jurisdictions/{code}/findings.csv", responses=EXPORT_RESPONSE)
def export_findings_csv(
    request: Request, code: str, user: CurrentUser, period: PeriodQuery
) -> StreamingResponse:
    """Every finding, counted once, as CSV (UTF-8 with BOM, formula-like cells neutralised):
    the rule in Chinese, the evidence in plain Chinese, the status and who acknowledged it."""
    return _export(request, user, "findings", "csv", code, period)


@router.get("/jurisdictions/{code}/findings.xlsx", responses=EXPORT_RESPONSE)
def export_findings_xlsx(
    request: Request, code: str, user: CurrentUser, period: PeriodQuery
) -> StreamingResponse:
    """The findings CSV's table as XLSX; every text cell is stored as text, never a formula."""
    return _export(request, user, "findings", "xlsx", code, period)


@router.get("/jurisdictions/{code}/payouts.csv", responses=EXPORT_RESPONSE)
def export_payouts_csv(
    request: Request, code: str, user: CurrentUser, period: PeriodQuery, fund: FundQuery = None
) -> StreamingResponse:
    """The period's payout lines of the subtree as CSV, masked: the name as the disclosure
    shows it, no ID number, no account; state, failure reason and what a reissue replaced."""
    return _export(request, user, "payouts", "csv", code, period, fund)


@router.get("/jurisdictions/{code}/payouts.xlsx", responses=EXPORT_RESPONSE)
def export_payouts_xlsx(
    request: Request, code: str, user: CurrentUser, period: PeriodQuery, fund: FundQuery = None
) -> StreamingResponse:
    """The payouts CSV's table as XLSX; text cells stored as text, amounts as numbers."""
    return _export(request, user, "payouts", "xlsx", code, period, fund)


TraceFundQuery = Annotated[str, Query(max_length=64, description="the fund traced")]


def _trace_scope(session: Session, user: Principal, code: str, period: str) -> Scope:
    require_audit_reader(user, code)
    get_jurisdiction(session, code)
    return Scope(code, period)


def _document(d: trace.TraceDocument) -> TraceDocumentPublic:
    return TraceDocumentPublic(
        **{k: v for k, v in asdict(d).items() if k != "amount_fen"}, amount=fen_to_str(d.amount_fen)
    )


@router.get(
    "/jurisdictions/{code}/trace/summary",
    response_model=TraceSummaryPublic,
    dependencies=[StrictQuery],
)
def read_trace_summary(
    code: str, session: SessionDep, user: CurrentUser, fund: TraceFundQuery, period: PeriodQuery
) -> TraceSummaryPublic:
    """The fund trace's head: the allocation documents of the subtree for the fund and the
    period's fiscal year, the transfers down the tree, the period's batches, with totals. The
    payouts themselves are paged by ``GET /jurisdictions/{code}/trace``."""
    scope = _trace_scope(session, user, code, period)
    fund = fund_code(session, fund)
    with read_snapshot(session) as snap:  # the read replica, when one is configured
        found = trace.trace_summary(snap, scope, fund)
    return TraceSummaryPublic(
        jurisdiction=found.jurisdiction,
        fund=found.fund,
        period=found.period,
        allocations=[_document(d) for d in found.allocations],
        transfers=[_document(d) for d in found.transfers],
        batches=[
            TraceBatchPublic(
                id=b.id,
                county=b.county,
                bank=b.bank,
                status=b.status,
                line_count=b.line_count,
                total=fen_to_str(b.total_fen),
                release_entry_id=b.release_entry_id,
                by_state={k: fen_to_str(v) for k, v in b.by_state.items()},
            )
            for b in found.batches
        ],
        allocated=fen_to_str(found.allocated_fen),
        transferred=fen_to_str(found.transferred_fen),
        batched=fen_to_str(found.batched_fen),
        paid=fen_to_str(found.paid_fen),
    )


def _trace_payout(row: dict[str, Any]) -> TracePayoutPublic:
    fields = {k: v for k, v in row.items() if k != "amount_fen"}
    return TracePayoutPublic(**fields, amount=fen_to_str(row["amount_fen"]))


@router.get(
    "/jurisdictions/{code}/trace",
    response_model=Page[TracePayoutPublic],
    dependencies=[StrictQuery],
)
def read_trace(
    code: str,
    session: SessionDep,
    user: CurrentUser,
    fund: TraceFundQuery,
    period: PeriodQuery,
    cursor: CursorQuery = None,
    limit: LimitQuery = 100,
) -> Page[TracePayoutPublic]:
    """Every payout of the subtree, fund and period, by id: reference, masked name, amount,
    state, the entry that last moved it, the bank file and line that settled it, the roster
    row in force. Auditors and admins in scope, and the jurisdiction's own bureaus."""
    scope = _trace_scope(session, user, code, period)
    fund = fund_code(session, fund)
    with read_snapshot(session) as snap:  # the read replica, when one is configured
        rows = trace.trace_payouts(
            snap, scope, fund, after_id=decode_cursor(cursor), limit=limit + 1
        )
    return page_of([asdict(r) for r in rows], limit, _trace_payout)


@router.get("/jurisdictions/{code}/trace.csv", responses=EXPORT_RESPONSE)
def export_trace_csv(
    request: Request, code: str, user: CurrentUser, fund: TraceFundQuery, period: PeriodQuery
) -> StreamingResponse:
    """The whole fund trace as one CSV (UTF-8 with BOM, formula-like cells neutralised), a
    ``kind`` column first: allocation, transfer, batch, payout. Recorded as a report file."""
    return _export(request, user, "trace", "csv", code, period, fund)


@router.get("/jurisdictions/{code}/trace.xlsx", responses=EXPORT_RESPONSE)
def export_trace_xlsx(
    request: Request, code: str, user: CurrentUser, fund: TraceFundQuery, period: PeriodQuery
) -> StreamingResponse:
    """The fund trace CSV's table as XLSX; text cells stored as text, amounts as numbers."""
    return _export(request, user, "trace", "xlsx", code, period, fund)


@router.post(
    "/jurisdictions/{code}/findings/runs",
    response_model=FindingRunPublic,
    status_code=201,
    openapi_extra=AUDIT_ACTION,
)
def create_findings_run(
    code: str, body: FindingRunCreate, session: SessionDep, user: CurrentUser, write: Write
) -> FindingRunPublic:
    """Evaluate the rules and store the run, so the findings of that day stay on record."""
    require_audit_reader(user, code)
    get_jurisdiction(session, code)
    result = write.run(
        lambda s: findings.run_findings(
            s, scope=report_scope(s, code, body.period), run_by=user.username
        ),
        operation=f"findings_run:{code}",
        body=body.model_dump(),
        status_code=201,
        audit_object=lambda r: ("finding_run", r["run_id"]),
    )
    return FindingRunPublic(**result)


def _recorded(request: Request, user: Principal, build: Callable[[Session], T]) -> T:
    """Build a report file in a unit of work: its record (who, when, SHA-256, chain head) and
    the audit row commit together; a build that fails records nothing but the refusal."""
    built: list[T] = []

    def work(s: Session) -> dict[str, Any]:
        built.append(build(s))
        return {}

    request_unit_of_work(request, user).run(work, operation="report", key=None)
    return built[0]


@router.get("/people/{person_key}/file.pdf", response_class=Response, responses=PDF_RESPONSE)
def download_person_file(
    request: Request,
    person_key: PersonKey,
    user: Annotated[Principal, Depends(file_reader)],
) -> Response:
    """The person file (一人一档) as a PDF, masked as the reader's JSON file is; reading it is
    recorded like any reading of the file."""
    person = read_recorded(request, user, person_key)
    buf = io.BytesIO()
    render_person(person, buf, generated_on=date.today())
    return Response(
        buf.getvalue(),
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="person-{person_key[:16]}.pdf"'},
    )


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


@router.get("/jurisdictions/{code}/performance", response_model=list[PerformancePublic])
def read_performance(
    code: str, session: SessionDep, user: CurrentUser, period: PeriodQuery
) -> list[PerformancePublic]:
    """Performance evaluation (绩效评价) of every jurisdiction and fund of the subtree over the
    fiscal year up to the period's report date, ranked (for 440000: the province-wide ranking)."""
    require_audit_reader(user, code)
    get_jurisdiction(session, code)
    scope = report_scope(session, code, period)
    names = {
        str(c).strip(): str(n)
        for c, n in session.execute(text("SELECT code, name FROM jurisdiction")).tuples()
    }
    return [
        PerformancePublic(
            rank=rank,
            jurisdiction=p.jurisdiction,
            jurisdiction_name=names.get(p.jurisdiction, p.jurisdiction),
            fund=p.fund,
            fiscal_year=p.fiscal_year,
            execution_rate=_text(p.execution_rate),
            days_to_people=_text(p.days_to_people),
            transfers_waiting=p.transfers_waiting,
            failed=p.failed,
            reissued_in_time=p.reissued_in_time,
            reissued_in_time_rate=_text(p.reissued_in_time_rate),
            payouts=p.payouts,
            findings=p.findings,
            findings_per_thousand=_text(p.findings_per_thousand),
            households=p.households,
            reviewed=p.reviewed,
            review_coverage=_text(p.review_coverage),
        )
        for rank, p in performance.ranking(performance.performance(session, scope))
    ]
