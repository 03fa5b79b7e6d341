"""Bank files in, exceptions resolved. Uploads are the raw file as the request body, so an
oversize file is refused from its Content-Length (or as it streams) before it is all read."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import asdict
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from ledger.access.deps import (
    CurrentUser,
    IdempotencyKey,
    RequestWrite,
    SessionDep,
    Write,
    Writer,
    require_role,
)
from ledger.access.service import Principal
from ledger.config import get_settings
from ledger.errors import ERROR_RESPONSES, ErrorResponse, PayloadTooLarge, UnsupportedMediaType
from ledger.filebytes import ByteSource, Spool
from ledger.jobs.routes import QUEUED_RESPONSE, queue_upload, queues
from ledger.paging import CursorQuery, LimitQuery, Page, StrictQuery, decode_cursor, page_of
from reconciliation import service
from reconciliation.jobs import BANK_FILE_IMPORT
from reconciliation.models import (
    BankFilePublic,
    ExceptionPublic,
    ProposalDecision,
    ResolutionCreate,
)

router = APIRouter(tags=["reconciliation"], responses=ERROR_RESPONSES)


async def _spool_limited(request: Request, limit: int) -> ByteSource:
    """The body spooled as it streams (to disk past a MiB), hashed on the way, its size bounded:
    a large file is never held whole in memory."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(
            f"the file is {declared} bytes; at most {limit} are accepted",
            [{"field": "body", "reason": "too large"}],
        )
    spool = Spool()
    try:
        async for chunk in request.stream():
            if spool.size + len(chunk) > limit:
                raise PayloadTooLarge(
                    f"the file exceeds {limit} bytes", [{"field": "body", "reason": "too large"}]
                )
            if spool.spills(chunk):  # disk writes leave the event loop, as UploadFile's do
                await run_in_threadpool(spool.write, chunk)
            else:
                spool.write(chunk)
    except BaseException:
        await run_in_threadpool(spool.file.close)
        raise
    return spool.source()


def bank_uploader(user: CurrentUser) -> Principal:
    """Authorise before the file is read: a refusal is a 403, never a 413 or 422."""
    require_role(user, "bank")
    return user


async def uploaded_file(
    request: Request, user: Annotated[Principal, Depends(bank_uploader)]
) -> AsyncIterator[ByteSource]:
    """The raw body, read off the event loop's socket with its size bounded as it streams, and
    spooled; the spool is dropped once the response is sent."""
    if request.headers.get("content-type", "").lower().startswith("multipart/"):
        # The body is stored and hashed as the bank's file: an envelope around it is not.
        raise UnsupportedMediaType(
            "send the return file itself as the request body (application/octet-stream), "
            "not a multipart form",
            [{"field": "Content-Type", "reason": "multipart bodies are not accepted"}],
        )
    source = await _spool_limited(request, get_settings().max_upload_bytes)
    try:
        yield source
    finally:  # closing a spool on disk removes its file: off the event loop too
        await run_in_threadpool(source.close)


@router.post(
    "/bank-files",
    response_model=BankFilePublic,
    status_code=201,
    responses={
        **QUEUED_RESPONSE,
        415: {"model": ErrorResponse, "description": "A multipart form, not the file"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
)
def upload_bank_file(
    request: Request,
    response: Response,
    user: Annotated[Principal, Depends(bank_uploader)],
    data: Annotated[ByteSource, Depends(uploaded_file)],
    key: IdempotencyKey,
    batch_id: Annotated[int | None, Query(description="the batch the file answers")] = None,
    county: Annotated[str | None, Query(pattern=r"^[0-9]{6}$", description="camt.053 only")] = None,
    fund: Annotated[str | None, Query(description="camt.053 only")] = None,
    filename: Annotated[str, Query(max_length=200)] = "",
    value_date: Annotated[
        date | None,
        Query(
            description="return files: the day the bank paid or returned the lines, the date of "
            "the settlement entries, in an open period (default today)"
        ),
    ] = None,
) -> BankFilePublic | JSONResponse:
    """Upload a return file (CSV 回盘, pain.002, camt.054) or a camt.053 statement, as received.

    The same bytes again return the first import (200) and apply nothing; a replay of the same
    key answers as the first time did. A file larger than LEDGER_JOB_THRESHOLD_BYTES is applied
    by a job: ``202`` with ``Location: /jobs/{id}``; the job's result is this answer."""
    return import_bank_file_as(
        RequestWrite(request, response, user, key),
        user=user,
        data=data,
        batch_id=batch_id,
        county=county,
        fund=fund,
        filename=filename,
        value_date=value_date,
    )


def import_bank_file_as(
    write: Writer,
    *,
    user: Principal,
    data: bytes | ByteSource,
    batch_id: int | None = None,
    county: str | None = None,
    fund: str | None = None,
    filename: str = "",
    value_date: date | None = None,
) -> BankFilePublic | JSONResponse:
    """A bank's file imported by its bank user (the route's and ``ledger bank-files import``)."""
    require_role(user, "bank")
    data = ByteSource.of(data)
    body = {"sha256": data.sha256, "batch_id": batch_id, "county": county}
    if value_date is not None:
        body["value_date"] = value_date.isoformat()
    if isinstance(write, RequestWrite) and queues(data.size):  # a large upload: a job answers
        params = {
            "principal": asdict(user),
            "batch_id": batch_id,
            "county": county,
            "fund": fund,
            "filename": filename,
            "value_date": value_date.isoformat() if value_date else None,
        }
        queued = queue_upload(
            write,
            kind=BANK_FILE_IMPORT,
            data=data,
            filename=filename,
            params=params,
            operation="bank_file.upload",
            body=body,
        )
        return queued if isinstance(queued, JSONResponse) else BankFilePublic(**queued)
    result = write.run(
        lambda s: BankFilePublic.of(
            service.import_bank_file(
                s,
                data=data,
                uploaded_by=user.username,
                principal=user,
                batch_id=batch_id,
                county=county,
                fund=fund,
                filename=filename,
                value_date=value_date,
            )
        ).model_dump(mode="json"),
        operation="bank_file.upload",
        body=body,
        status_code=lambda r: 200 if r["replayed"] else 201,
        audit_object=lambda r: ("bank_file", r["file_id"]),
    )
    return BankFilePublic(**result)


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


@router.get(
    "/reconciliation/exceptions/queue",
    response_model=Page[ExceptionPublic],
    dependencies=[StrictQuery],
)
def read_exception_queue(
    session: SessionDep,
    user: CurrentUser,
    status: Annotated[str | None, Query(pattern="^(open|matched|referred|written_off)$")] = "open",
    awaiting_me: Annotated[
        bool, Query(description="open exceptions I may propose or approve a resolution for")
    ] = False,
    cursor: CursorQuery = None,
    limit: LimitQuery = 100,
) -> Page[ExceptionPublic]:
    """The exceptions queue, paged; ``awaiting_me=true`` keeps those waiting for the caller's
    decision (never the uploader's, never the proposer's own)."""
    rows = service.list_exceptions(
        session,
        principal=user,
        status=status,
        after_id=decode_cursor(cursor),
        limit=limit + 1,
        awaiting_me=awaiting_me,
    )
    return page_of(rows, limit, ExceptionPublic.of)


def _decider(user: Principal) -> None:
    require_role(user, "civil_affairs", "finance", "admin")


@router.post(
    "/reconciliation/exceptions/{exception_id:int}/resolution",
    response_model=ExceptionPublic,
    status_code=201,
)
def propose(
    exception_id: int, body: ResolutionCreate, user: CurrentUser, write: Write
) -> ExceptionPublic:
    """Propose a resolution (match by hand, refer, write off to suspense) with a reason; not by
    the uploader. Nothing posts until a second user approves it."""
    _decider(user)
    result = write.run(
        lambda s: service.propose_resolution(
            s,
            exception_id=exception_id,
            action=body.action,
            reason=body.reason,
            payout_id=body.payout_id,
            principal=user,
        ),
        operation=f"recon_exception.propose:{exception_id}",
        body=body.model_dump(),
        status_code=201,
    )
    return ExceptionPublic.of(result)


@router.post(
    "/reconciliation/exceptions/{exception_id:int}/resolution/approval",
    response_model=ExceptionPublic,
)
def approve_resolution(exception_id: int, user: CurrentUser, write: Write) -> ExceptionPublic:
    """Approve the proposed resolution: a user who is neither its proposer nor the file's
    uploader. A hand match posts its settlement here."""
    _decider(user)
    result = write.run(
        lambda s: service.decide_resolution(
            s, exception_id=exception_id, principal=user, approve=True
        ),
        operation=f"recon_exception.approve:{exception_id}",
        body={"exception_id": exception_id},
    )
    return ExceptionPublic.of(result)


@router.post(
    "/reconciliation/exceptions/{exception_id:int}/resolution/rejection",
    response_model=ExceptionPublic,
)
def reject_resolution(
    exception_id: int, body: ProposalDecision, user: CurrentUser, write: Write
) -> ExceptionPublic:
    """Turn the proposal down with a reason; the exception stays open for a new proposal."""
    _decider(user)
    result = write.run(
        lambda s: service.decide_resolution(
            s, exception_id=exception_id, principal=user, approve=False, reason=body.reason
        ),
        operation=f"recon_exception.reject:{exception_id}",
        body=body.model_dump(),
    )
    return ExceptionPublic.of(result)
