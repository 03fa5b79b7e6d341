"""Bank files in, exceptions resolved. Uploads are the raw file as the request body, so an
oversize file is refused from its Content-Length (or as it streams) before it is all read."""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from ledger.access.deps import CurrentUser, IdempotencyKey, SessionDep, require_role
from ledger.config import get_settings
from ledger.errors import ERROR_RESPONSES, ErrorResponse, PayloadTooLarge, UnsupportedMediaType
from ledger.journal import idempotency
from reconciliation import service
from reconciliation.models import (
    BankFilePublic,
    ExceptionPublic,
    ResolutionCreate,
    ResolutionPublic,
)

router = APIRouter(tags=["reconciliation"], responses=ERROR_RESPONSES)


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(
            f"the file is {declared} bytes; at most {limit} are accepted",
            [{"field": "body", "reason": "too large"}],
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(
                f"the file exceeds {limit} bytes", [{"field": "body", "reason": "too large"}]
            )
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/bank-files",
    response_model=BankFilePublic,
    status_code=201,
    responses={415: {"model": ErrorResponse, "description": "A multipart form, not the file"}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
)
async def upload_bank_file(
    request: Request,
    response: Response,
    session: SessionDep,
    user: CurrentUser,
    key: IdempotencyKey,
    batch_id: Annotated[int | None, Query(description="the batch the file answers")] = None,
    county: Annotated[str | None, Query(pattern=r"^[0-9]{6}$", description="camt.053 only")] = None,
    fund: Annotated[str | None, Query(description="camt.053 only")] = None,
    filename: Annotated[str, Query(max_length=200)] = "",
) -> BankFilePublic:
    """Upload a return file (CSV 回盘, pain.002, camt.054) or a camt.053 statement, as received.

    The same bytes again return the first import (200) and apply nothing.
    """
    require_role(user, "bank")
    if request.headers.get("content-type", "").lower().startswith("multipart/"):
        # The body is stored and hashed as the bank's file: an envelope around it is not.
        raise UnsupportedMediaType(
            "send the return file itself as the request body (application/octet-stream), "
            "not a multipart form",
            [{"field": "Content-Type", "reason": "multipart bodies are not accepted"}],
        )
    data = await _read_limited(request, get_settings().max_upload_bytes)
    body = {"sha256": hashlib.sha256(data).hexdigest(), "batch_id": batch_id, "county": county}
    stored = idempotency.claim(session, key=key, operation="bank_file.upload", body=body)
    if stored:
        response.status_code = 200
        return BankFilePublic(**stored)
    # The claim commits or rolls back with the file itself.
    result = service.import_bank_file(
        session,
        data=data,
        uploaded_by=user.username,
        principal=user,
        batch_id=batch_id,
        county=county,
        fund=fund,
        filename=filename,
    )
    public = BankFilePublic.of(result)
    if result["replayed"]:
        response.status_code = 200
    else:
        idempotency.record(
            session, key=key, response=public.model_dump(mode="json"), status_code=201
        )
        session.commit()
    return public


@router.get("/bank-files/{file_id:int}", response_model=BankFilePublic)
def read_bank_file(file_id: int, session: SessionDep, user: CurrentUser) -> BankFilePublic:
    """What an imported file did (a bank sees its own files; others their jurisdiction's)."""
    result = service.get_bank_file(session, file_id=file_id, principal=user)
    return BankFilePublic.of(result).model_copy(
        update={"uploaded_by": result["uploaded_by"], "uploaded_at": result["uploaded_at"]}
    )


@router.get("/reconciliation/exceptions", response_model=list[ExceptionPublic])
def read_exceptions(
    session: SessionDep,
    user: CurrentUser,
    status: Annotated[str | None, Query(pattern="^(open|matched|referred|written_off)$")] = "open",
    bank_file_id: int | None = None,
    after_id: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[ExceptionPublic]:
    """The exceptions queue: unmatched, conflicting, refused and mismatched bank lines."""
    rows = service.list_exceptions(
        session,
        principal=user,
        status=status,
        bank_file_id=bank_file_id,
        after_id=after_id,
        limit=limit,
    )
    return [ExceptionPublic.of(r) for r in rows]


@router.post(
    "/reconciliation/exceptions/{exception_id:int}/resolution",
    response_model=ResolutionPublic,
    status_code=201,
)
def resolve(
    exception_id: int,
    body: ResolutionCreate,
    session: SessionDep,
    user: CurrentUser,
    key: IdempotencyKey,
) -> ResolutionPublic:
    """Match by hand, refer, or write off to suspense, with a reason; not by the uploader."""
    require_role(user, "civil_affairs", "finance", "admin")
    stored = idempotency.claim(
        session, key=key, operation=f"recon_exception:{exception_id}", body=body.model_dump()
    )
    if stored is not None:
        return ResolutionPublic(**stored)
    result = service.resolve_exception(
        session,
        exception_id=exception_id,
        action=body.action,
        reason=body.reason,
        payout_id=body.payout_id,
        principal=user,
    )
    idempotency.record(session, key=key, response=result, status_code=201)
    session.commit()
    return ResolutionPublic(**result)
