"""A queued job's state, progress and result."""

from __future__ import annotations

from fastapi import APIRouter

from ledger.access.deps import CurrentUser, SessionDep
from ledger.errors import ERROR_RESPONSES
from ledger.jobs import service
from ledger.jobs.models import JobPublic

router = APIRouter(tags=["jobs"], responses=ERROR_RESPONSES)


@router.get("/jobs/{job_id:int}", response_model=JobPublic)
def read_job(job_id: int, session: SessionDep, user: CurrentUser) -> JobPublic:
    """State (queued, running, succeeded, failed), progress (lines done of total) and, once
    finished, the result the work returns when run directly, or the error it failed with."""
    return service.get_job(session, job_id=job_id, principal=user)
