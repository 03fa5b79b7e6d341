"""A queued job's state, progress and result; uploads too large to import during the request
are answered ``202 Accepted`` with the job."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from ledger.access.deps import CurrentUser, RequestWrite, SessionDep, app_engine
from ledger.config import get_settings
from ledger.errors import ERROR_RESPONSES
from ledger.filebytes import ByteSource
from ledger.jobs import service
from ledger.jobs.models import JobPublic

router = APIRouter(tags=["jobs"], responses=ERROR_RESPONSES)
QUEUED_RESPONSE: dict[int | str, dict[str, Any]] = {
    202: {
        "model": JobPublic,
        "description": "Queued as a job (a file larger than LEDGER_JOB_THRESHOLD_BYTES): follow "
        "the Location header, GET /jobs/{id}",
    }
}


@router.get("/jobs/{job_id:int}", response_model=JobPublic)
def read_job(job_id: int, session: SessionDep, user: CurrentUser) -> JobPublic:
    """State (queued, running, succeeded, failed), progress (lines done of total) and, once
    finished, the result the work returns when run directly, or the error it failed with."""
    return service.get_job(session, job_id=job_id, principal=user)


def queues(size: int) -> bool:
    """Whether an upload of ``size`` bytes is imported by a job rather than during the request."""
    return size > get_settings().job_threshold_bytes


def queue_upload(
    write: RequestWrite,
    *,
    kind: str,
    data: bytes | ByteSource,
    filename: str,
    params: dict[str, Any],
    operation: str,
    body: dict[str, Any],
) -> JSONResponse | dict[str, Any]:
    """Queue the import of an upload under the request's idempotency key: ``202`` with the job
    and ``Location: /jobs/{id}``. A replay answers as things stand: the job while it is queued
    or running, then the job's own answer (the import's result, with its status, or its
    refusal). A dict is that result, for the route to shape."""
    uow = write.unit_of_work()
    principal = write.principal
    request = service.queued_request(uow, operation=operation, key=write.key)

    def work(session: Session) -> JobPublic:
        job_id = service.queue_file_job(
            session,
            kind=kind,
            data=data,
            filename=filename,
            params=params,
            created_by=principal.username,
            request=request,
        )
        return service.get_job(session, job_id=job_id, principal=principal)

    written = uow.run(
        work,
        operation=operation,
        key=write.key,
        body=body,
        status_code=202,
        audit_object=lambda r: ("job", r["id"]),
    )
    write.request.state.audited = True
    headers = {"Idempotent-Replayed": "true"} if written.replayed else {}
    if written.status_code == 202:
        job_id = int(written.body["id"])
        with Session(app_engine(write.request)) as session:
            job = service.get_job(session, job_id=job_id, principal=principal)
        headers["Location"] = f"/jobs/{job_id}"
        return JSONResponse(job.model_dump(mode="json"), status_code=202, headers=headers)
    if written.status_code >= 400:
        return JSONResponse(written.body, status_code=written.status_code, headers=headers)
    write.response.status_code = written.status_code
    write.response.headers.update(headers)
    return written.body
