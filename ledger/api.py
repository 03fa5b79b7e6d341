"""Application plumbing shared by every router: error shape, request ids, the audit trail hook."""

from __future__ import annotations

import logging
import uuid

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError

from ledger.errors import DomainError

log = logging.getLogger("ledger.api")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status_code)

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

    @app.exception_handler(DBAPIError)
    async def db_error(request: Request, exc: DBAPIError) -> JSONResponse:
        from ledger.journal.service import translate_db_error

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
