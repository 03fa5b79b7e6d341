"""FastAPI dependencies: the session, the calling principal and the scope checks."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Annotated, Any, Protocol

from fastapi import Depends, Header, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ledger.access.service import Principal, authenticate
from ledger.config import get_settings
from ledger.db import get_engine
from ledger.errors import Forbidden, Unauthenticated
from ledger.uow import AuditTrail, GroupPoster, UnitOfWork

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
AUDIT_ACTION_KEY = "x-audit-action"
AUDIT_ACTION = {AUDIT_ACTION_KEY: True}
"""``openapi_extra`` of a write an auditor may make because it changes no books or subledger."""


def app_engine(request: Request) -> Engine:
    return getattr(request.app.state, "engine", None) or get_engine()


_poster_lock = threading.Lock()


def app_poster(request: Request) -> GroupPoster | None:
    """The server process's group poster for HTTP writes (made on first use), unless
    ``LEDGER_GROUP_POSTING`` is off."""
    state = request.app.state
    poster: GroupPoster | None = getattr(state, "poster", None)
    if poster is None and get_settings().group_posting:
        with _poster_lock:
            poster = getattr(state, "poster", None)
            if poster is None:
                poster = state.poster = GroupPoster(app_engine(request))
    return poster


def get_session(request: Request) -> Iterator[Session]:
    """A session for the request's reads; writes run in their own unit of work."""
    with Session(app_engine(request), expire_on_commit=False) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="An API token (`ledger tokens issue USER`), sent as `Authorization: Bearer <token>`",
)


def current_principal(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)] = None,
) -> Principal:
    if credentials is None or not credentials.credentials:
        raise Unauthenticated("send 'Authorization: Bearer <token>'")
    principal = authenticate(session, credentials.credentials.strip())
    request.state.principal = principal
    # Auditors read and never write: refused here once rather than in every write route. A
    # route that only records an audit act (a findings run) says so with AUDIT_ACTION.
    route = request.scope.get("route")
    audit_action = bool((getattr(route, "openapi_extra", None) or {}).get(AUDIT_ACTION_KEY))
    if principal.role == "auditor" and request.method not in SAFE_METHODS and not audit_action:
        raise Forbidden(
            "an auditor reads and changes nothing",
            [{"field": "role", "reason": "auditors are read-only"}],
        )
    return principal


CurrentUser = Annotated[Principal, Depends(current_principal)]
IdempotencyKey = Annotated[str, Header(alias="Idempotency-Key", min_length=1, max_length=200)]


def request_unit_of_work(
    request: Request, principal: Principal, key: str | None = None
) -> UnitOfWork:
    """A unit of work for a request: its audit trail (the route, the object, request id, client
    address); refusals are recorded by the audit middleware, which knows the answer's status."""
    from ledger.access.audit import route_of
    from ledger.api import client_address

    action, object_type, object_id = route_of(request)
    trail = AuditTrail(
        action=action,
        object_type=object_type,
        object_id=object_id,
        request_id=getattr(request.state, "request_id", None),
        client_addr=client_address(request),
        detail={"method": request.method, "path": request.url.path, "idempotency_key": key},
    )
    audit_refusals = request.method in SAFE_METHODS  # the middleware audits only writes
    return UnitOfWork(
        app_engine(request), trail=trail, principal=principal, audit_refusals=audit_refusals
    )


class Writer(Protocol):
    """What a route writes through: ``RequestWrite`` over HTTP, ``ledger.acting.CommandWrite``
    on the command line (the same route, the same unit of work, another audit trail)."""

    def run(
        self,
        work: Callable[[Session], Any],
        *,
        operation: str,
        body: Any = None,
        status_code: int | Callable[[dict[str, Any]], int] = 200,
        audit_object: Callable[[dict[str, Any]], tuple[str, Any]] | None = None,
    ) -> dict[str, Any]: ...


class RequestWrite:
    """The unit of work of one HTTP write: the caller's key, the route's audit trail, and the
    answer's status and ``Idempotent-Replayed`` header set on the response."""

    def __init__(
        self, request: Request, response: Response, principal: Principal, key: str
    ) -> None:
        self.request, self.response, self.principal, self.key = request, response, principal, key

    def unit_of_work(self) -> UnitOfWork:
        return request_unit_of_work(self.request, self.principal, self.key)

    def run(
        self,
        work: Callable[[Session], Any],
        *,
        operation: str,
        body: Any = None,
        status_code: int | Callable[[dict[str, Any]], int] = 200,
        audit_object: Callable[[dict[str, Any]], tuple[str, Any]] | None = None,
    ) -> dict[str, Any]:
        uow = self.unit_of_work()
        uow.poster = app_poster(self.request)
        written = uow.run(
            work,
            operation=operation,
            key=self.key,
            body=body,
            status_code=status_code,
            audit_object=audit_object,
        )
        self.request.state.audited = True
        self.response.status_code = written.status_code
        if written.replayed:
            self.response.headers["Idempotent-Replayed"] = "true"
        return written.body


def request_write(
    request: Request, response: Response, principal: CurrentUser, key: IdempotencyKey
) -> RequestWrite:
    return RequestWrite(request, response, principal, key)


Write = Annotated[Writer, Depends(request_write)]


def require_role(principal: Principal, *roles: str) -> None:
    if principal.role not in roles:
        raise Forbidden(
            f"role {principal.role} may not do this; allowed: {', '.join(roles)}",
            [{"field": "role", "reason": "not allowed"}],
        )


def require_scope(principal: Principal, jurisdiction: str) -> None:
    """A county sees itself, a city its counties, the province all; a bank no territory."""
    if principal.role == "bank":
        raise Forbidden(
            "a bank user sees only what is addressed to its bank",
            [{"field": "jurisdiction", "reason": "out of scope"}],
        )
    if not principal.sees(jurisdiction):
        raise Forbidden(
            f"jurisdiction {jurisdiction} is outside the scope of {principal.jurisdiction}",
            [{"field": "jurisdiction", "reason": "out of scope"}],
        )


def require_bank_scope(principal: Principal, bank_code: str, *, county: str | None = None) -> None:
    """What is addressed to a bank (batches, instruction and return files).

    A bank user reaches only what names its own bank code. Any other role is held to the
    division tree through ``county`` (the batch's county) when it is given; callers that serve
    non-bank roles pass it.
    """
    if principal.role == "bank":
        if principal.bank_code != bank_code:
            raise Forbidden(
                f"this is addressed to bank {bank_code}, not to {principal.bank_code}",
                [{"field": "bank_code", "reason": "out of scope"}],
            )
        return
    if county is not None:
        require_scope(principal, county)


def require_public_scope(principal: Principal, jurisdiction: str) -> None:
    """Public, masked disclosure (公示): any role may read it, a bank included; the others still
    within their subtree."""
    if principal.role != "bank":
        require_scope(principal, jurisdiction)
