"""The audit log (审计日志): one append-only row for every request that changes or tries to change
anything — who, bureau, role, action, object, request id, client address, time and outcome.

An accepted write's row is written by its unit of work (``ledger.uow``) in the write's own
transaction; a refusal's row is written here, in its own short transaction after the response is
known, so the rollback of a refused request cannot take its record with it.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from fastapi import FastAPI, Request
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.routing import Match

from ledger.access.service import Principal
from ledger.api import client_address, connection_lost, iter_routes, unavailable
from ledger.db import get_engine
from ledger.jurisdictions.catalog import level_of

log = logging.getLogger("ledger.audit")
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def outcome_of(status_code: int) -> str:
    if status_code >= 500:
        return "failed"
    return "refused" if status_code >= 400 else "accepted"


def audit_row(
    *,
    action: str,
    outcome: str,
    principal: Principal | None = None,
    username: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    request_id: str | None = None,
    client_addr: str | None = None,
    status_code: int | None = None,
    detail: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One audit-log row's columns (the server fills in its time and its place in the chain)."""
    return {
        "user_id": principal.user_id if principal and principal.user_id else None,
        "username": principal.username if principal else username,
        "bureau_id": principal.bureau_id if principal and principal.bureau_id else None,
        "role": principal.role if principal else None,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "request_id": request_id,
        "client_addr": client_addr,
        "outcome": outcome,
        "status_code": status_code,
        "detail": detail or {},
    }


_INSERT_AUDIT = text(
    "INSERT INTO audit_log (user_id, username, bureau_id, role, action, object_type, "
    "object_id, request_id, client_addr, outcome, status_code, detail) VALUES (:user_id, "
    ":username, :bureau_id, :role, :action, :object_type, :object_id, :request_id, :client_addr, "
    ":outcome, :status_code, CAST(:detail AS jsonb))"
)


def record_audit(session: Session, **row: Any) -> None:
    """Append one row (``audit_row``'s arguments) inside the caller's transaction (the CLI's
    operator commands use this too)."""
    values = audit_row(**row)
    values["detail"] = json.dumps(values["detail"], ensure_ascii=False, default=str)
    session.execute(_INSERT_AUDIT, values)


def route_of(request: Request) -> tuple[str, str | None, str | None]:
    """(action, object type, object id) from the matched route; unmatched paths keep their text."""
    route = request.scope.get("route")
    if route is None:
        for candidate in iter_routes(request.app.router.routes):
            if candidate.matches(request.scope)[0] is Match.FULL:
                route = candidate
                break
    if route is None:
        return f"{request.method} {request.url.path}", None, None
    params = request.scope.get("path_params") or {}
    object_id = "/".join(str(v) for v in params.values()) or None
    return (
        str(getattr(route, "name", None) or getattr(route, "path", "")),
        getattr(route, "path_format", None),
        object_id,
    )


def _write(engine: Engine, row: dict[str, Any]) -> None:
    with Session(engine) as session:
        record_audit(session, **row)
        session.commit()


def install_audit_log(app: FastAPI) -> None:
    @app.middleware("http")
    async def audit_writes(request: Request, call_next):  # type: ignore[no-untyped-def]
        if request.method not in WRITE_METHODS:
            return await call_next(request)
        # An accepted write's row was written by its unit of work, in its own transaction.
        status_code, error, response = 500, None, None
        try:
            response = await call_next(request)
            status_code = response.status_code
        except Exception as exc:
            error = type(exc).__name__
            raise
        finally:
            audited = getattr(request.state, "audited", False)
            action, object_type, object_id = route_of(request)
            row = {
                "action": action,
                "outcome": outcome_of(status_code),
                "principal": getattr(request.state, "principal", None),
                "object_type": object_type,
                "object_id": object_id,
                "request_id": getattr(request.state, "request_id", None)
                or request.headers.get("X-Request-ID"),
                "client_addr": client_address(request),
                "status_code": status_code,
                "detail": {
                    "method": request.method,
                    "path": request.url.path,
                    "idempotency_key": request.headers.get("Idempotency-Key"),
                    **({"exception": error} if error else {}),
                },
            }
            engine = getattr(request.app.state, "engine", None) or get_engine()
            try:
                if not audited:
                    await run_in_threadpool(_write, engine, row)
            except Exception as exc:  # the answer must not stand without its record: loud
                log.exception("could not write the audit log row for %s", action)
                if response is None or not connection_lost(exc):
                    raise
                # The database went away between the answer and its record: a 503 in the error
                # shape, so the client retries with the same key, gets the first result and the
                # retry is recorded (a bare 500 would read as a server fault, not a retry).
                response = unavailable()
        return response


AUDIT_OUTCOMES = ("accepted", "refused", "failed")


def read_audit_log(
    session: Session,
    *,
    jurisdiction: str,
    limit: int = 100,
    after_id: int = 0,
    action: str | None = None,
    username: str | None = None,
    outcome: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[dict[str, Any]]:
    """Rows of users whose bureau lies in ``jurisdiction``'s subtree; rows without a known user
    (refused before authentication) are shown to the province and central levels only. The
    filters narrow by action (route name), user, outcome and time (``since`` ≤ at < ``until``)."""
    prefix = subtree_prefix(jurisdiction)
    rows = (
        session.execute(
            text(
                "SELECT l.id, l.at, l.user_id, l.username, l.bureau_id, l.role, l.action, "
                "l.object_type, l.object_id, l.request_id, l.client_addr, l.outcome, l.status_code, "
                "b.jurisdiction_code AS jurisdiction FROM audit_log l "
                "LEFT JOIN bureau b ON b.id = l.bureau_id WHERE l.id > :after AND "
                "(b.jurisdiction_code LIKE :prefix || '%' OR (b.id IS NULL AND :root)) "
                "AND (CAST(:action AS text) IS NULL OR l.action = :action) "
                "AND (CAST(:user AS text) IS NULL OR l.username = :user) "
                "AND (CAST(:outcome AS text) IS NULL OR l.outcome = :outcome) "
                "AND (CAST(:since AS timestamptz) IS NULL OR l.at >= :since) "
                "AND (CAST(:until AS timestamptz) IS NULL OR l.at < :until) "
                "ORDER BY l.id LIMIT :lim"
            ),
            {
                "after": after_id,
                "lim": limit,
                "prefix": prefix,
                "root": level_of(jurisdiction) <= 1,
                "action": action,
                "user": username,
                "outcome": outcome,
                "since": since,
                "until": until,
            },
        )
        .mappings()
        .all()
    )
    return [dict(r) for r in rows]


def subtree_prefix(code: str) -> str:
    """The code prefix every division in ``code``'s subtree shares (codes nest by prefix)."""
    return {0: "", 1: code[:2], 2: code[:4]}.get(level_of(code), code)
