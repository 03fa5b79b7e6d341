"""A roster upload too large to import during the request, run by a worker."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from ledger.jobs.service import Progress, answer_request, job_file, job_kind
from ledger.roster import service
from ledger.roster.models import RosterImportPublic

ROSTER_IMPORT = "roster_import"


@job_kind(ROSTER_IMPORT)
def run_roster_import(
    session: Session, params: dict[str, Any], progress: Progress
) -> dict[str, Any]:
    data = job_file(session, progress.job_id)

    def work(s: Session) -> dict[str, Any]:
        result = service.import_roster(
            s,
            county=params["county"],
            data=data,
            filename=params["filename"],
            effective_period=params["effective_period"],
            imported_by=params["imported_by"],
            mode=params["mode"],
            confirm_exits=params["confirm_exits"],
            progress=progress,
        )
        return RosterImportPublic(**result).model_dump(mode="json")

    return answer_request(
        session,
        params,
        progress,
        work,
        status_code=201,
        audit_object=lambda r: ("register_import", r["import_id"]),
    )
