"""Application plumbing shared by every router: error shape, request ids, the audit trail hook."""

from __future__ import annotations

import ipaddress
import logging
import uuid
from collections.abc import Iterable, Iterator
from functools import lru_cache

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Match

from ledger.config import get_settings
from ledger.errors import DomainError, ServiceUnavailable

log = logging.getLogger("ledger.api")


def connection_lost(exc: BaseException) -> bool:
    """The database was unreachable or the connection died: nothing about the request itself."""
    return isinstance(exc, (OperationalError, InterfaceError)) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    )


def unavailable() -> JSONResponse:
    lost = ServiceUnavailable(
        "the database is unavailable; retry with the same Idempotency-Key, which "
        "returns the first result if this request was in fact written"
    )
    return JSONResponse(lost.body(), status_code=503, headers={"Retry-After": "1"})


IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def parse_networks(spec: str) -> tuple[IPNetwork, ...]:
    """``"10.0.0.1, 192.168.0.0/16"`` as networks (a bare address is a one-address network)."""
    return tuple(
        ipaddress.ip_network(p.strip(), strict=False) for p in spec.split(",") if p.strip()
    )


def _in(address: str, networks: tuple[IPNetwork, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def client_address(request: Request) -> str | None:
    """The address a request came from: the socket's peer, unless that peer is one of
    ``LEDGER_TRUSTED_PROXIES``; then the right-most X-Forwarded-For hop that is not a trusted
    proxy (hops to its left were written by the client and prove nothing)."""
    peer = request.client.host if request.client else None
    networks = parse_networks(get_settings().trusted_proxies)
    if peer is None or not _in(peer, networks):
        return peer
    hops = [h.strip() for v in request.headers.getlist("x-forwarded-for") for h in v.split(",")]
    address = peer
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            break  # a malformed hop: nothing to its left can be trusted either
        address = hop
        if not _in(hop, networks):
            break
    return address


def iter_routes(routes: Iterable[BaseRoute]) -> Iterator[BaseRoute]:
    """Every concrete route, those of included routers too (FastAPI wraps an included router in
    one route; ours are included without a prefix, so their routes match the request's path)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from iter_routes(inner.routes)
        else:
            yield route


def allowed_methods(request: Request) -> list[str]:
    """Every method some route answers at this path (Starlette names only the first route's)."""
    methods = {"OPTIONS"}
    for route in iter_routes(request.app.router.routes):
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            methods.update(getattr(route, "methods", None) or ())
    return sorted(methods)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> Response:
        html_error = getattr(request.app.state, "html_error", None)
        if html_error is not None and getattr(request.state, "console", False):
            return html_error(request, exc)  # a console page: the refusal as a page
        retry = {"Retry-After": "1"} if isinstance(exc, ServiceUnavailable) else None
        return JSONResponse(exc.body(), status_code=exc.status_code, headers=retry)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = []
        for err in exc.errors():
            loc = [
                str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header")
            ]
            details.append({"field": ".".join(loc) or None, "reason": err.get("msg", "invalid")})
        body = {
            "error": {
                "code": "validation_failed",
                "message": "the request is invalid",
                "details": details,
            }
        }
        return JSONResponse(body, status_code=422)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if exc.status_code == 405:
            allow = {"Allow": ", ".join(allowed_methods(request))}
            if request.method == "OPTIONS":
                return Response(status_code=204, headers=allow)
            exc = HTTPException(405, f"{request.method} is not allowed here", headers=allow)
        # Starlette's own refusals (unknown path, wrong method, a body that is not JSON) keep the
        # one error shape; an unreadable body is invalid input like any other, so 422.
        status = 422 if exc.status_code == 400 else exc.status_code
        code = {404: "not_found", 405: "method_not_allowed", 422: "validation_failed"}.get(
            status, "bad_request"
        )
        field = "body" if status == 422 else None
        body = {
            "error": {
                "code": code,
                "message": str(exc.detail),
                "details": [{"line": None, "field": field, "reason": str(exc.detail)}],
            }
        }
        return JSONResponse(body, status_code=status, headers=exc.headers)

    @app.exception_handler(DBAPIError)
    async def db_error(request: Request, exc: DBAPIError) -> JSONResponse:
        from ledger.journal.service import translate_db_error

        # A lost or refused connection is not a refusal of the request: its transaction died
        # with the connection, so the client may retry with the same key (not a final 409).
        if connection_lost(exc):
            log.warning(
                "database unavailable: %s", str(exc.orig).splitlines()[0] if exc.orig else exc
            )
            return unavailable()
        err = translate_db_error(exc)
        if isinstance(err, DomainError):
            return JSONResponse(err.body(), status_code=err.status_code)
        raise exc


def install_request_ids(app: FastAPI) -> None:
    @app.middleware("http")
    async def request_id(request: Request, call_next):  # type: ignore[no-untyped-def]
        request.state.request_id = request.headers.get("X-Request-ID") or uuid.uuid4().hex
        response = await call_next(request)
        response.headers["X-Request-ID"] = request.state.request_id
        return response
