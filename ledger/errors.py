"""Domain errors and the one error shape the API documents.

Every refusal reaches a client as ``{"error": {"code", "message", "details"}}`` where each detail
names where (``line``, ``field``) and why (``reason``).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class ErrorDetail(BaseModel):
    line: int | None = None
    field: str | None = None
    reason: str


class ErrorBody(BaseModel):
    code: str
    message: str
    details: list[ErrorDetail] = []


class ErrorResponse(BaseModel):
    error: ErrorBody


class DomainError(Exception):
    """A refusal the caller can act on."""

    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "details": [ErrorDetail(**d).model_dump() for d in self.details],
            }
        }


class NotFound(DomainError):
    status_code = 404
    code = "not_found"


class Forbidden(DomainError):
    status_code = 403
    code = "forbidden"


class Unauthenticated(DomainError):
    status_code = 401
    code = "unauthenticated"


class Conflict(DomainError):
    status_code = 409
    code = "conflict"


class ValidationFailed(DomainError):
    status_code = 422
    code = "validation_failed"


class InsufficientFunds(Conflict):
    code = "insufficient_funds"


class PeriodClosed(Conflict):
    code = "period_closed"


class PayloadTooLarge(DomainError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(DomainError):
    status_code = 415
    code = "unsupported_media_type"


class ServiceUnavailable(DomainError):
    """The database could not be reached or the connection was lost mid-request: the same request
    with the same Idempotency-Key may be retried, and returns the first result if it was written."""

    status_code = 503
    code = "service_unavailable"


class ReplicaBehind(ServiceUnavailable):
    """The read replica has not yet replayed the books the primary already holds: retry shortly
    (``LEDGER_READ_MAX_WAIT_SECONDS`` says how long a read waits before this answer)."""

    code = "replica_behind"


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": desc}
    for status, desc in {
        401: "Missing, unknown, expired or revoked token",
        403: "The role or the jurisdiction scope does not allow it",
        404: "No such object in the caller's scope",
        409: "Conflict: idempotency key reused with another body, state, or funds",
        413: "Upload too large",
        422: "Invalid input; details name the line, field and reason",
        503: "The database is unreachable, or the read replica is behind the books; retry",
    }.items()
}


class TooManyRequests(DomainError):
    status_code = 429
    code = "too_many_requests"
