"""The console's plumbing: templates, the cookie session, CSRF, and the write path of a form.

A console write is the API's write: the principal comes from the session instead of a bearer
token, the idempotency key from a hidden field generated each time the form is rendered (so a
double submit replays the first answer), and it runs through the same unit of work, services,
four-eyes rules and audit log.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from ledger.access.deps import SessionDep, request_unit_of_work
from ledger.access.service import Principal
from ledger.access.sessions import WebSession, session_of
from ledger.errors import DomainError, Forbidden, Unauthenticated
from ledger.jurisdictions.catalog import FUNDS
from ledger.money import fen_to_str
from ledger.pii import mask_name

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
SESSION_COOKIE = "ledger_session"
LOGIN_CSRF_COOKIE = "ledger_login_csrf"
templates = Jinja2Templates(directory=str(HERE / "templates"))

ROLE_NAMES = {
    "finance": "财政",
    "civil_affairs": "民政",
    "bank": "代发银行",
    "auditor": "审计",
    "admin": "管理员",
}
FUND_NAMES = {f.code: f.name for f in FUNDS}
STATES = {
    "draft": "草稿",
    "posted": "已过账",
    "rejected": "已退回",
    "withdrawn": "已撤回",
    "reversed": "已冲销",
    "released": "已发放",
    "cancelled": "已作废",
    "sent": "已发送",
    "paid": "已支付",
    "failed": "失败",
    "returned": "已退回",
    "reissued": "已重发",
    "open": "待处理",
    "matched": "已匹配",
    "referred": "已转交",
    "written_off": "已转暂存",
}


def yuan(value: int | str | None) -> str:
    """Fen (or a decimal string in yuan) as ``1,234.50``."""
    if value is None:
        return "-"
    text = fen_to_str(value) if isinstance(value, int) else str(value)
    whole, _, cents = text.partition(".")
    sign = "-" if whole.startswith("-") else ""
    return f"{sign}{int(whole.lstrip('-')):,}.{cents or '00'}"


templates.env.filters["yuan"] = yuan
templates.env.filters["fund_name"] = lambda code: FUND_NAMES.get(str(code), str(code))
templates.env.filters["mask_name"] = mask_name
templates.env.filters["state"] = lambda s: STATES.get(str(s), str(s))
templates.env.globals["ROLE_NAMES"] = ROLE_NAMES
templates.env.globals["FUNDS"] = FUNDS


class LoginRequired(Exception):
    """A page was asked for without a live session: answered by a redirect to the login page."""

    def __init__(self, next_path: str, reason: str) -> None:
        super().__init__(reason)
        self.next_path, self.reason = next_path, reason


def web_session(request: Request, session: SessionDep) -> WebSession:
    request.state.console = True
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise LoginRequired(request.url.path, "请先登录")
    try:
        live = session_of(session, token)
    except Unauthenticated as exc:
        raise LoginRequired(request.url.path, exc.message) from None
    request.state.principal = live.principal
    request.state.web_session = live
    return live


ConsoleSession = Annotated[WebSession, Depends(web_session)]


def require_csrf(live: WebSession, token: str | None) -> None:
    if not token or not hmac.compare_digest(token, live.csrf_token):
        raise Forbidden(
            "表单已失效（CSRF 校验未通过），请刷新页面后重试",
            [{"field": "csrf_token", "reason": "missing or wrong"}],
        )


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A page, with the session's CSRF token and a fresh idempotency key for its forms."""
    live: WebSession | None = getattr(request.state, "web_session", None)
    context.setdefault("error", None)
    context.setdefault("notice", request.query_params.get("notice"))
    return templates.TemplateResponse(
        request,
        name,
        {
            "user": live.principal if live else None,
            "csrf_token": live.csrf_token if live else "",
            "form_key": secrets.token_urlsafe(16),
            **context,
        },
        status_code=status_code,
    )


ERROR_HEADLINES = {
    "bad_request": "请求有误",
    "not_found": "找不到该对象（或不在您的管辖范围内）",
    "forbidden": "无权执行此操作",
    "unauthenticated": "请先登录",
    "conflict": "与当前状态冲突，未作任何更改",
    "validation_failed": "内容未通过校验，未作任何更改",
    "insufficient_funds": "专项资金余额不足，未作任何更改",
    "period_closed": "该会计期间已结账，不再接受记账",
    "payload_too_large": "文件过大",
    "unsupported_media_type": "文件格式不受支持",
    "service_unavailable": "服务暂时不可用，请稍后用同一表单重试",
    "replica_behind": "只读副本尚未同步到最新账簿，请稍后重试",
    "too_many_requests": "提交过于频繁，请稍后再试",
}
FOUR_EYES = "四眼原则：制单（提议、上传）与审核（批准、发放）必须由两个人完成"
_FOUR_EYES_REASONS = ("maker and checker must differ", "same person as")


def error_headline(problem: DomainError) -> str:
    """The Chinese headline of a refusal; the service's own message follows it as the detail."""
    if any(str(d.get("reason", "")).startswith(_FOUR_EYES_REASONS) for d in problem.details):
        return FOUR_EYES
    return ERROR_HEADLINES.get(problem.code, "无法完成")


def error_page(request: Request, exc: DomainError) -> HTMLResponse:
    return render(
        request,
        "error.html",
        status_code=exc.status_code,
        problem=exc,
        headline=error_headline(exc),
    )


def login_redirect(exc: LoginRequired) -> RedirectResponse:
    return RedirectResponse(
        f"/login?next={quote(exc.next_path)}&reason={quote(exc.reason)}", status_code=303
    )


def see_other(path: str, notice: str | None = None) -> RedirectResponse:
    return RedirectResponse(path + (f"?notice={quote(notice)}" if notice else ""), status_code=303)


def form_write(
    request: Request,
    live: WebSession,
    *,
    csrf_token: str | None,
    form_key: str | None,
    work: Callable[[Session], Any],
    operation: str,
    body: Any = None,
    audit_object: Callable[[dict[str, Any]], tuple[str, Any]] | None = None,
) -> dict[str, Any]:
    """One form's write through the unit of work, as the session's user, keyed by the form."""
    require_csrf(live, csrf_token)
    key = f"console:{form_key}" if form_key else None
    uow = request_unit_of_work(request, live.principal, key)
    written = uow.run(work, operation=operation, key=key, body=body, audit_object=audit_object)
    request.state.audited = True
    return written.body


def principal_of(live: WebSession) -> Principal:
    return live.principal
