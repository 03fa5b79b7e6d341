"""The web console (控制台) at ``/``: server-rendered pages for finance, civil affairs, banks,
auditors and the public. Pages read through the same services as the API; forms write through
``web.form_write`` (the unit of work), so roles, scopes, four-eyes and the audit log are the API's.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, File, Form, Query, Request, UploadFile
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text
from sqlalchemy.orm import Session

from ledger.access.audit import subtree_prefix
from ledger.access.deps import (
    SessionDep,
    app_engine,
    require_bank_scope,
    require_role,
    require_scope,
)
from ledger.access.service import Principal
from ledger.access.sessions import check_password, end_session, start_session
from ledger.api import client_address
from ledger.batches import routes as batch_routes
from ledger.batches import service as batches
from ledger.checks.labels import rule_label
from ledger.config import get_settings
from ledger.console import web
from ledger.console.charts import flow_chart
from ledger.console.web import ConsoleSession, render, see_other
from ledger.documents import flow
from ledger.documents import service as documents
from ledger.domain import PERIOD_PATTERN
from ledger.errors import Conflict, DomainError, Forbidden, ValidationFailed
from ledger.jurisdictions.service import fund_code, get_jurisdiction
from ledger.paging import decode_cursor, encode_cursor
from ledger.replica import read_snapshot
from ledger.roster import service as roster_service
from ledger.roster.routes import read_upload
from ledger.uow import AuditTrail, UnitOfWork
from reconciliation import service as reconciliation
from reports import findings, trace
from reports.routes import require_audit_reader
from reports.scope import Scope, report_scope

router = APIRouter(include_in_schema=False)
CsrfField = Annotated[str | None, Form()]
KeyField = Annotated[str | None, Form()]


# ---- login --------------------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/", reason: str | None = None) -> Response:
    token = request.cookies.get(web.LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
    page = render(request, "login.html", next=_local(next), login_csrf=token, reason=reason)
    page.set_cookie(
        web.LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=get_settings().secure_cookies,
        path="/login",
    )
    return page


def _local(path: str) -> str:
    """Only a path of this site is a place to go back to after login."""
    return path if path.startswith("/") and not path.startswith("//") else "/"


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    session: SessionDep,
    username: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=1000)],
    csrf_token: CsrfField = None,
    next: Annotated[str, Form()] = "/",
) -> Response:
    cookie = request.cookies.get(web.LOGIN_CSRF_COOKIE)
    if not cookie or not csrf_token or not hmac.compare_digest(cookie, csrf_token):
        return render(
            request,
            "login.html",
            status_code=403,
            next=_local(next),
            login_csrf=cookie or "",
            error="表单已失效，请刷新页面后重新登录",
        )
    try:
        principal = check_password(session, username=username, password=password)
    except DomainError as exc:
        return render(
            request,
            "login.html",
            status_code=401,
            next=_local(next),
            login_csrf=cookie,
            error=exc.message,
        )
    request.state.principal = principal
    minutes = get_settings().session_minutes
    trail = AuditTrail(
        action="console_login",
        object_type="app_user",
        object_id=str(principal.user_id),
        request_id=getattr(request.state, "request_id", None),
        client_addr=client_address(request),
    )
    made: list[str] = []

    def work(s: Session) -> dict[str, Any]:
        token, live = start_session(
            s, principal=principal, minutes=minutes, client_addr=client_address(request)
        )
        made.append(token)
        return {"user_id": principal.user_id, "expires_at": live.expires_at}

    UnitOfWork(app_engine(request), trail=trail, principal=principal).run(
        work, operation="console_login", key=None
    )
    request.state.audited = True
    page = RedirectResponse(_local(next), status_code=303)
    page.set_cookie(
        web.SESSION_COOKIE,
        made[0],
        max_age=minutes * 60,
        httponly=True,
        samesite="strict",
        secure=get_settings().secure_cookies,
    )
    page.delete_cookie(web.LOGIN_CSRF_COOKIE, path="/login")
    return page


@router.post("/logout")
def logout(request: Request, live: ConsoleSession, csrf_token: CsrfField = None) -> Response:
    token = request.cookies[web.SESSION_COOKIE]

    def work(s: Session) -> dict[str, Any]:
        end_session(s, token)
        return {"user_id": live.principal.user_id}

    web.form_write(
        request, live, csrf_token=csrf_token, form_key=None, work=work, operation="console_logout"
    )
    page = RedirectResponse("/login", status_code=303)
    page.delete_cookie(web.SESSION_COOKIE)
    return page


@router.get("/", response_class=HTMLResponse)
def home(request: Request, live: ConsoleSession) -> Response:
    target = {
        "finance": "/console/documents?status=draft",
        "civil_affairs": "/console/batches",
        "bank": "/console/batches",
        "auditor": "/console/audit",
        "admin": "/console/audit",
    }[live.principal.role]
    return RedirectResponse(target, status_code=303)


# ---- finance: documents and the approval queue ----------------------------------------------


@router.get("/console/documents", response_class=HTMLResponse)
def documents_page(
    request: Request,
    session: SessionDep,
    live: ConsoleSession,
    status: str | None = "draft",
    awaiting_me: bool = False,
) -> Response:
    user = live.principal
    require_role(user, "finance", "auditor", "admin")
    status = status or None
    rows = documents.document_queue(
        session, principal=user, status=status, awaiting_me=awaiting_me, limit=200
    )[:200]
    queue = documents.document_queue(session, principal=user, status="draft", awaiting_me=True)
    return render(
        request,
        "documents.html",
        rows=rows,
        status=status,
        awaiting_me=awaiting_me,
        queue_size=len(queue),
    )


@router.post("/console/documents/{document_id:int}/decision")
def decide_document(
    request: Request,
    session: SessionDep,
    live: ConsoleSession,
    document_id: int,
    decision: Annotated[str, Form(pattern="^(approve|reject)$")],
    reason: Annotated[str, Form(max_length=500)] = "",
    csrf_token: CsrfField = None,
    form_key: KeyField = None,
) -> Response:
    user = live.principal
    require_role(user, "finance")
    issuer, receiver = documents.document_scope(session, document_id=document_id)
    if not (user.sees(issuer) or (receiver is not None and user.sees(receiver))):
        raise Forbidden(f"document {document_id} is outside your scope")
    if decision == "approve":
        web.form_write(
            request,
            live,
            csrf_token=csrf_token,
            form_key=form_key,
            work=lambda s: documents.approve_document(s, principal=user, document_id=document_id),
            operation=f"approve:{document_id}",
            body={"document_id": document_id},
            audit_object=lambda r: ("fund_document", document_id),
        )
        return see_other("/console/documents", f"单据 {document_id} 已审核通过并过账")
    if len(reason.strip()) < 2:
        raise ValidationFailed("退回须填写理由", [{"field": "reason", "reason": "required"}])
    web.form_write(
        request,
        live,
        csrf_token=csrf_token,
        form_key=form_key,
        work=lambda s: documents.decide_draft(
            s, principal=user, document_id=document_id, decision="rejected", reason=reason
        ),
        operation=f"rejected:{document_id}",
        body={"reason": reason},
        audit_object=lambda r: ("fund_document", document_id),
    )
    return see_other("/console/documents", f"单据 {document_id} 已退回")


# ---- fund flow (finance, auditors) -------------------------------------------------------------


@router.get("/console/fund-flow", response_class=HTMLResponse)
def fund_flow_page(
    request: Request,
    session: SessionDep,
    live: ConsoleSession,
    fund: str = "urban_minimum_living",
    fiscal_year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
    jurisdiction: Annotated[str | None, Query(pattern=r"^[0-9]{6}$")] = None,
) -> Response:
    user = live.principal
    require_role(user, "finance", "auditor", "admin", "civil_affairs")
    code = jurisdiction or user.jurisdiction
    require_scope(user, code)
    get_jurisdiction(session, code)
    year = fiscal_year or date.today().year
    with read_snapshot(session) as snap:  # the read replica, when one is configured
        tree = flow.fund_flow(
            snap, jurisdiction=code, fund=fund_code(session, fund), fiscal_year=year
        )
    return render(
        request,
        "fund_flow.html",
        tree=tree,
        chart=flow_chart(tree),
        fund=fund,
        fiscal_year=year,
        jurisdiction=code,
    )


# ---- batches (civil affairs, banks, auditors) ------------------------------------------------


@router.get("/console/batches", response_class=HTMLResponse)
def batches_page(
    request: Request,
    session: SessionDep,
    live: ConsoleSession,
    status: str | None = None,
    period: str | None = None,
) -> Response:
    user = live.principal
    require_role(user, "civil_affairs", "bank", "auditor", "admin")
    rows = batches.list_batches(
        session, principal=user, status=status or None, period=period or None, limit=500
    )[:500]
    failed: list[dict[str, Any]] = []
    if user.role == "civil_affairs":
        failed = _failed_payouts(session, user.jurisdiction)
    banks = session.execute(text("SELECT code, name FROM bank ORDER BY code")).all()
    return render(
        request,
        "batches.html",
        rows=list(reversed(rows)),
        failed=failed,
        banks=banks,
        this_month=date.today().strftime("%Y%m"),
    )


def _failed_payouts(session: Session, county: str) -> list[dict[str, Any]]:
    """Failed payouts of the county not yet reissued: what a new batch may pay again."""
    rows = session.execute(
        text(
            "SELECT o.id, o.batch_id, o.period, o.fund_code, o.payee_name, o.amount_fen, "
            "o.reason_code, o.raw_text FROM payout o WHERE o.county_code = :c AND o.state = 'failed' "
            "AND NOT EXISTS (SELECT 1 FROM payout r WHERE r.reissue_of = o.id) ORDER BY o.id LIMIT 500"
        ),
        {"c": county},
    ).mappings()
    return [dict(r) for r in rows]


@router.post("/console/batches")
def build_batch(
    request: Request,
    live: ConsoleSession,
    fund: Annotated[str, Form(max_length=40)],
    period: Annotated[str, Form(pattern=PERIOD_PATTERN)],
    bank_code: Annotated[str, Form(max_length=40)],
    reissue: Annotated[list[int] | None, Form()] = None,
    csrf_token: CsrfField = None,
    form_key: KeyField = None,
) -> Response:
    user = live.principal
    require_role(user, "civil_affairs")
    require_scope(user, user.jurisdiction)
    body = {
        "county": user.jurisdiction,
        "fund": fund,
        "period": period,
        "bank_code": bank_code,
        "reissue": reissue or [],
    }
    made = web.form_write(
        request,
        live,
        csrf_token=csrf_token,
        form_key=form_key,
        work=lambda s: batches.build_batch(
            s,
            county=user.jurisdiction,
            fund=fund,
            period=period,
            bank_code=bank_code,
            reissue=reissue or [],
            created_by=user.username,
        ),
        operation="batch_build",
        body=body,
        audit_object=lambda b: ("payment_batch", b["id"]),
    )
    return see_other(f"/console/batches/{made['id']}", f"批次 {made['id']} 已生成并完成检查")


def _readable_batch(session: Session, user: Principal, batch_id: int) -> dict[str, Any]:
    batch = batches.get_batch(session, batch_id)
    batch_routes.may_read_batch(user, batch)
    return batch


@router.get("/console/batches/{batch_id:int}", response_class=HTMLResponse)
def batch_page(
    request: Request, session: SessionDep, live: ConsoleSession, batch_id: int
) -> Response:
    user = live.principal
    batch = _readable_batch(session, user, batch_id)
    findings = [] if user.role == "bank" else batches.findings(session, batch_id)
    payouts = batches.list_payouts(session, batch_id, limit=1000)[:1000]
    lines = [batch_routes.payout_public(p) for p in payouts]
    exceptions = reconciliation.list_exceptions(session, principal=user, status=None, limit=1000)
    return render(
        request,
        "batch.html",
        batch=batch,
        findings=findings,
        lines=lines,
        exceptions=[x for x in exceptions if x["batch_id"] == batch_id],
        file_name=batches.instruction_file_name(session, batch),
        result=None,
    )


@router.post("/console/batches/{batch_id:int}/acknowledgements")
def acknowledge(
    request: Request,
    session: SessionDep,
    live: ConsoleSession,
    batch_id: int,
    reason: Annotated[str, Form(max_length=500)],
    finding_ids: Annotated[list[int] | None, Form()] = None,
    csrf_token: CsrfField = None,
    form_key: KeyField = None,
) -> Response:
    user = live.principal
    batch = batches.get_batch(session, batch_id)
    require_role(user, "civil_affairs")
    require_scope(user, batch["county_code"])
    if not finding_ids:
        raise ValidationFailed("请勾选要确认的提示", [{"field": "finding_ids", "reason": "none"}])
    web.form_write(
        request,
        live,
        csrf_token=csrf_token,
        form_key=form_key,
        work=lambda s: batches.acknowledge(
            s, batch_id=batch_id, finding_ids=finding_ids, reason=reason, by=user.username
        ),
        operation=f"batch_ack:{batch_id}",
        body={"reason": reason, "finding_ids": finding_ids},
    )
    return see_other(f"/console/batches/{batch_id}", f"已确认 {len(finding_ids)} 条提示")


@router.post("/console/batches/{batch_id:int}/release")
def release(
    request: Request,
    session: SessionDep,
    live: ConsoleSession,
    batch_id: int,
    csrf_token: CsrfField = None,
    form_key: KeyField = None,
) -> Response:
    user = live.principal
    batch = batches.get_batch(session, batch_id)
    require_role(user, "civil_affairs")
    require_scope(user, batch["county_code"])
    web.form_write(
        request,
        live,
        csrf_token=csrf_token,
        form_key=form_key,
        work=lambda s: batches.release_batch(s, batch_id=batch_id, released_by=user.username),
        operation=f"batch_release:{batch_id}",
        body={"batch_id": batch_id},
    )
    return see_other(f"/console/batches/{batch_id}", f"批次 {batch_id} 已发放，银行可下载指令文件")


@router.get("/console/batches/{batch_id:int}/instructions.{ext}")
def download_instructions(
    request: Request, session: SessionDep, live: ConsoleSession, batch_id: int, ext: str
) -> Response:
    """The same file as the API's, for the session's user."""
    if ext not in ("csv", "xml"):
        raise ValidationFailed("csv 或 xml", [{"field": "ext", "reason": "unknown"}])
    streamer = batch_routes.instruction_csv if ext == "csv" else batch_routes.instruction_xml
    kwargs: dict[str, Any] = {"encoding": "utf-8"} if ext == "csv" else {}
    return streamer(batch_id, session, live.principal, **kwargs)


@router.post("/console/batches/{batch_id:int}/return-file", response_class=HTMLResponse)
def upload_return_file(
    request: Request,
    session: SessionDep,
    live: ConsoleSession,
    batch_id: int,
    file: Annotated[UploadFile, File()],
    csrf_token: CsrfField = None,
    form_key: KeyField = None,
) -> Response:
    user = live.principal
    require_role(user, "bank")
    batch = batches.get_batch(session, batch_id)
    require_bank_scope(user, batch["bank_code"])
    data = read_upload(file)
    result = web.form_write(
        request,
        live,
        csrf_token=csrf_token,
        form_key=form_key,
        work=lambda s: reconciliation.import_bank_file(
            s,
            data=data,
            uploaded_by=user.username,
            principal=user,
            batch_id=batch_id,
            filename=file.filename or "",
        ),
        operation="bank_file.upload",
        body={"sha256": hashlib.sha256(data).hexdigest(), "batch_id": batch_id, "county": None},
        audit_object=lambda r: ("bank_file", r["file_id"]),
    )
    batch = batches.get_batch(session, batch_id)
    payouts = batches.list_payouts(session, batch_id, limit=1000)[:1000]
    exceptions = reconciliation.list_exceptions(
        session, principal=user, status=None, bank_file_id=result["file_id"], limit=1000
    )
    return render(
        request,
        "batch.html",
        batch=batch,
        findings=[],
        lines=[batch_routes.payout_public(p) for p in payouts],
        exceptions=exceptions,
        file_name=batches.instruction_file_name(session, batch),
        result=result,
    )


@router.get("/console/exceptions", response_class=HTMLResponse)
def exceptions_page(request: Request, session: SessionDep, live: ConsoleSession) -> Response:
    rows = reconciliation.list_exceptions(session, principal=live.principal, limit=500)
    may_decide = live.principal.role in ("civil_affairs", "finance", "admin")
    return render(request, "exceptions.html", rows=rows, may_decide=may_decide)


@router.post("/console/exceptions/{exception_id:int}/resolution")
def propose_resolution(
    request: Request,
    live: ConsoleSession,
    exception_id: int,
    action: Annotated[str, Form(pattern="^(match|refer|write_off)$")],
    reason: Annotated[str, Form(max_length=500)],
    payout_id: Annotated[str, Form(max_length=20)] = "",
    csrf_token: CsrfField = None,
    form_key: KeyField = None,
) -> Response:
    """Propose how an exception is resolved; a second user approves it (the API's rules)."""
    user = live.principal
    require_role(user, "civil_affairs", "finance", "admin")
    if payout_id.strip() and not payout_id.strip().isdigit():
        raise ValidationFailed(
            "发放编号须为数字", [{"field": "payout_id", "reason": "not a number"}]
        )
    payout = int(payout_id) if payout_id.strip() else None
    body = {"action": action, "reason": reason, "payout_id": payout}
    web.form_write(
        request,
        live,
        csrf_token=csrf_token,
        form_key=form_key,
        work=lambda s: reconciliation.propose_resolution(
            s,
            exception_id=exception_id,
            action=action,
            reason=reason,
            payout_id=payout,
            principal=user,
        ),
        operation=f"recon_exception.propose:{exception_id}",
        body=body,
        audit_object=lambda r: ("recon_exception", exception_id),
    )
    return see_other(
        "/console/exceptions", f"异常 {exception_id} 的处理建议已提交，待另一位同事审核"
    )


@router.post("/console/exceptions/{exception_id:int}/decision")
def decide_resolution(
    request: Request,
    live: ConsoleSession,
    exception_id: int,
    decision: Annotated[str, Form(pattern="^(approve|reject)$")],
    reason: Annotated[str, Form(max_length=500)] = "",
    csrf_token: CsrfField = None,
    form_key: KeyField = None,
) -> Response:
    """Approve the proposal (a hand match posts) or turn it down with a reason."""
    user = live.principal
    require_role(user, "civil_affairs", "finance", "admin")
    approve = decision == "approve"
    web.form_write(
        request,
        live,
        csrf_token=csrf_token,
        form_key=form_key,
        work=lambda s: reconciliation.decide_resolution(
            s, exception_id=exception_id, principal=user, approve=approve, reason=reason
        ),
        operation=f"recon_exception.{'approve' if approve else 'reject'}:{exception_id}",
        body={"exception_id": exception_id} if approve else {"reason": reason},
        audit_object=lambda r: ("recon_exception", exception_id),
    )
    done = "已批准" if approve else "已驳回"
    return see_other("/console/exceptions", f"异常 {exception_id} 的处理建议{done}")


# ---- civil affairs: the roster import with a preview ---------------------------------------------

RosterPeriod = Annotated[str, Form(pattern=PERIOD_PATTERN)]
RosterMode = Annotated[str, Form(pattern="^(update|replace)$")]


@router.get("/console/roster", response_class=HTMLResponse)
def roster_page(request: Request, live: ConsoleSession) -> Response:
    require_role(live.principal, "civil_affairs")
    return render(
        request, "roster.html", preview=None, refused=None, this_month=date.today().strftime("%Y%m")
    )


@router.post("/console/roster/preview", response_class=HTMLResponse)
def roster_preview(
    request: Request,
    session: SessionDep,
    live: ConsoleSession,
    file: Annotated[UploadFile, File()],
    effective_period: RosterPeriod,
    mode: RosterMode = "update",
    csrf_token: CsrfField = None,
) -> Response:
    """The dry run: what the file would do (joined, changed, exited, with their lines), or the
    lines it is refused for. Read-only: run in its own transaction and rolled back."""
    user = live.principal
    require_role(user, "civil_affairs")
    require_scope(user, user.jurisdiction)
    web.require_csrf(live, csrf_token)
    data = read_upload(file)
    upload = {
        "name": file.filename or "",
        "sha256": hashlib.sha256(data).hexdigest(),
        "period": effective_period,
        "mode": mode,
    }
    preview: dict[str, Any] | None = None
    refused: DomainError | None = None
    with Session(session.get_bind()) as s:  # never committed: the dry run writes nothing
        try:
            preview = roster_service.import_roster(
                s,
                county=user.jurisdiction,
                data=data,
                filename=upload["name"],
                effective_period=effective_period,
                imported_by=user.username,
                mode=mode,
                dry_run=True,
            )
        except (ValidationFailed, Conflict) as exc:
            refused = exc
    return render(
        request,
        "roster.html",
        status_code=200 if refused is None else 422,
        preview=preview,
        refused=refused,
        upload=upload,
        this_month=effective_period,
    )


@router.post("/console/roster/import")
def roster_import(
    request: Request,
    live: ConsoleSession,
    file: Annotated[UploadFile, File()],
    effective_period: RosterPeriod,
    sha256: Annotated[str, Form(pattern="^[0-9a-f]{64}$")],
    mode: RosterMode = "update",
    confirm_exits: Annotated[int | None, Form(ge=0)] = None,
    csrf_token: CsrfField = None,
    form_key: KeyField = None,
) -> Response:
    """Import the previewed file: the same file again (its SHA-256 must be the previewed one),
    with the preview's mode and, for a replace, its count of households ended."""
    user = live.principal
    require_role(user, "civil_affairs")
    require_scope(user, user.jurisdiction)
    web.require_csrf(live, csrf_token)
    data = read_upload(file)
    digest = hashlib.sha256(data).hexdigest()
    if not hmac.compare_digest(digest, sha256):
        raise ValidationFailed(
            "所选文件与预览的文件不一致，请重新预览",
            [{"field": "file", "reason": "not the previewed file (SHA-256 differs)"}],
        )
    exits = confirm_exits if mode == "replace" else None
    body = {
        "county": user.jurisdiction,
        "period": effective_period,
        "sha256": digest,
        "mode": mode,
        "confirm_exits": exits,
    }
    done = web.form_write(
        request,
        live,
        csrf_token=csrf_token,
        form_key=form_key,
        work=lambda s: roster_service.import_roster(
            s,
            county=user.jurisdiction,
            data=data,
            filename=file.filename or "",
            effective_period=effective_period,
            imported_by=user.username,
            mode=mode,
            confirm_exits=exits,
        ),
        operation="roster_import",
        body=body,
        audit_object=lambda r: ("register_import", r["import_id"]),
    )
    return see_other(
        "/console/roster",
        f"花名册已导入（第 {done['import_id']} 次导入）：新增 {done['joined']} 人，"
        f"变更 {done['changed']} 人，退出 {done['exited']} 人",
    )


# ---- auditors ----------------------------------------------------------------------------------


@router.get("/console/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    session: SessionDep,
    live: ConsoleSession,
    period: Annotated[str | None, Query(pattern=PERIOD_PATTERN)] = None,
) -> Response:
    user = live.principal
    require_role(user, "auditor", "admin")
    prefix = subtree_prefix(user.jurisdiction)
    tree = session.execute(
        text(
            "SELECT code, name, level, parent_code FROM jurisdiction WHERE code LIKE :p || '%' "
            "AND code <> '000000' ORDER BY code LIMIT 400"
        ),
        {"p": prefix},
    ).mappings()
    findings = session.execute(
        text(
            "SELECT f.id, f.rule, f.severity, f.message, f.batch_id, b.county_code, b.period "
            "FROM finding f JOIN payment_batch b ON b.id = f.batch_id "
            "WHERE b.county_code LIKE :p || '%' ORDER BY f.id DESC LIMIT 100"
        ),
        {"p": prefix},
    ).mappings()
    return render(
        request,
        "audit.html",
        tree=list(tree),
        findings=list(findings),
        period=period or date.today().strftime("%Y%m"),
    )


@router.get("/console/findings", response_class=HTMLResponse)
def findings_page(
    request: Request,
    session: SessionDep,
    live: ConsoleSession,
    period: Annotated[str | None, Query(pattern=PERIOD_PATTERN)] = None,
    jurisdiction: Annotated[str | None, Query(pattern=r"^[0-9]{6}$")] = None,
) -> Response:
    """The audit findings of the subtree and period (the audit report's): the rule's name, the
    message and the evidence in plain Chinese, amounts in yuan, each batch linked to its trace."""
    user = live.principal
    code = jurisdiction or user.jurisdiction
    require_audit_reader(user, code)
    get_jurisdiction(session, code)
    period = period or date.today().strftime("%Y%m")
    found = findings.all_findings(session, report_scope(session, code, period))
    rows = [
        {
            "rule": rule_label(f.rule),
            "severity": f.severity,
            "status": findings.STATUS_LABELS.get(f.status, f.status),
            "jurisdiction": f.jurisdiction,
            "fund": f.fund,
            "period": f.period or period,
            "batch_id": f.batch_id,
            "message": f.message,
            "evidence": findings.evidence_text(f.evidence),
        }
        for f in found
    ]
    return render(request, "findings.html", rows=rows, jurisdiction=code, period=period)


TRACE_PAGE = 50


@router.get("/console/trace", response_class=HTMLResponse)
def trace_page(
    request: Request,
    session: SessionDep,
    live: ConsoleSession,
    jurisdiction: Annotated[str, Query(pattern=r"^[0-9]{6}$")],
    fund: Annotated[str, Query(max_length=64)],
    period: Annotated[str, Query(pattern=PERIOD_PATTERN)],
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """The fund trace (the API's ``/jurisdictions/{code}/trace``): the summary's totals and
    batches, then the payouts a page at a time, with a link to the next page."""
    user = live.principal
    require_audit_reader(user, jurisdiction)
    get_jurisdiction(session, jurisdiction)
    scope = Scope(jurisdiction, period)
    code = fund_code(session, fund)
    with read_snapshot(session) as snap:  # one snapshot: the totals and the page agree
        summary = trace.trace_summary(snap, scope, code)
        rows = trace.trace_payouts(
            snap, scope, code, after_id=decode_cursor(cursor), limit=TRACE_PAGE + 1
        )
    more = len(rows) > TRACE_PAGE
    rows = rows[:TRACE_PAGE]
    return render(
        request,
        "trace.html",
        summary=summary,
        payouts=rows,
        next_cursor=encode_cursor(rows[-1].id) if more and rows else None,
        query={"jurisdiction": jurisdiction, "fund": code, "period": period},
    )


@router.get("/console/reports/audit.pdf")
def audit_report(
    request: Request,
    session: SessionDep,
    live: ConsoleSession,
    jurisdiction: Annotated[str, Query(pattern=r"^[0-9]{6}$")],
    period: Annotated[str, Query(pattern=PERIOD_PATTERN)],
) -> Response:
    from reports.routes import download_audit

    require_audit_reader(live.principal, jurisdiction)
    return download_audit(request, live.principal, jurisdiction, period)


@router.get("/console/check-pdf", response_class=HTMLResponse)
def check_pdf_page(request: Request, live: ConsoleSession) -> Response:
    require_role(live.principal, "auditor", "admin", "finance", "civil_affairs")
    return render(request, "check_pdf.html", outcome=None)


@router.post("/console/check-pdf", response_class=HTMLResponse)
def check_pdf(
    request: Request,
    session: SessionDep,
    live: ConsoleSession,
    file: Annotated[UploadFile, File()],
    csrf_token: CsrfField = None,
) -> Response:
    """Is this PDF a report the ledger made, under which checkpoint, and do the books still
    agree? Reads only: nothing is written but the audit row of the question."""
    from ledger.journal.verify import verify

    user = live.principal
    require_role(user, "auditor", "admin", "finance", "civil_affairs")
    web.require_csrf(live, csrf_token)
    data = read_upload(file)
    sha = hashlib.sha256(data).hexdigest()
    record = (
        session.execute(
            text(
                "SELECT id, kind, jurisdiction_code, fund_code, period, generated_by, generated_at, "
                "chain_head, size_bytes FROM report_record WHERE sha256 = :s ORDER BY id LIMIT 1"
            ),
            {"s": sha},
        )
        .mappings()
        .first()
    )
    if record is not None and not user.sees(record["jurisdiction_code"]):
        record = None  # another jurisdiction's report: not to be confirmed to this user
    checkpoint = None
    report = None
    if record is not None:
        checkpoint = (
            session.execute(
                text(
                    "SELECT id, tree_size, root, signed_at, key_id FROM checkpoint "
                    "WHERE chain_head = :h OR signed_at <= :at ORDER BY (chain_head = :h) DESC, "
                    "id DESC LIMIT 1"
                ),
                {"h": record["chain_head"], "at": record["generated_at"]},
            )
            .mappings()
            .first()
        )
        report = verify(session).as_dict()
    return render(
        request,
        "check_pdf.html",
        outcome={"sha256": sha, "size": len(data), "name": file.filename},
        record=record,
        checkpoint=checkpoint,
        verified=report,
    )


# ---- the public: a disclosure without login ---------------------------------------------------


@router.get("/public/disclosure", response_class=HTMLResponse)
def public_disclosure(
    request: Request,
    session: SessionDep,
    jurisdiction: Annotated[str | None, Query(pattern=r"^[0-9]{6}$")] = None,
    fund: str | None = None,
    period: Annotated[str | None, Query(pattern=PERIOD_PATTERN)] = None,
) -> Response:
    """What the disclosure PDF shows (masked names, household size, amount, by township and
    village, the hotline), for anyone."""
    from reports.data import disclosure_info, disclosure_rows
    from reports.scope import report_scope

    if not (jurisdiction and fund and period):
        return render(request, "public.html", info=None, rows=[], query={})
    get_jurisdiction(session, jurisdiction)
    code = fund_code(session, fund)
    scope = report_scope(session, jurisdiction, period)
    info = disclosure_info(session, scope, code)
    rows = list(disclosure_rows(session, scope, code))
    return render(
        request,
        "public.html",
        info=info,
        rows=rows,
        total=sum(r.monthly_amount_fen for r in rows),
        query={"jurisdiction": jurisdiction, "fund": fund, "period": period},
    )


# ---- wiring --------------------------------------------------------------------------------------


def install_console(app: FastAPI) -> None:
    """Mount the console, its static files and the API docs served from vendored assets."""
    app.mount("/static", StaticFiles(directory=web.STATIC), name="static")
    app.include_router(router)
    app.state.html_error = web.error_page

    @app.exception_handler(web.LoginRequired)
    async def login_required(request: Request, exc: web.LoginRequired) -> Response:
        return web.login_redirect(exc)

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{app.title} — API",
            swagger_js_url="/static/vendor/swagger-ui-bundle.js",
            swagger_css_url="/static/vendor/swagger-ui.css",
            swagger_favicon_url="/static/vendor/favicon-32x32.png",
            swagger_ui_parameters={"persistAuthorization": True},
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url="/openapi.json",
            title=f"{app.title} — API",
            redoc_js_url="/static/vendor/redoc.standalone.js",
            redoc_favicon_url="/static/vendor/favicon-32x32.png",
            with_google_fonts=False,
        )
