"""A bank-file upload too large to apply during the request, run by a worker."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from ledger.access.service import Principal
from ledger.jobs.service import Progress, answer_request, job_file_source, job_kind
from reconciliation import service
from reconciliation.models import BankFilePublic

BANK_FILE_IMPORT = "bank_file_import"


@job_kind(BANK_FILE_IMPORT)
def run_bank_file_import(
    session: Session, params: dict[str, Any], progress: Progress
) -> dict[str, Any]:
    source = job_file_source(session, progress.job_id)
    principal = Principal(**params["principal"])

    def work(s: Session) -> dict[str, Any]:
        result = service.import_bank_file(
            s,
            data=source,
            uploaded_by=principal.username,
            principal=principal,
            batch_id=params["batch_id"],
            county=params["county"],
            fund=params["fund"],
            filename=params["filename"],
            progress=progress,
            value_date=date.fromisoformat(day) if (day := params.get("value_date")) else None,
        )
        return BankFilePublic.of(result).model_dump(mode="json")

    with source:
        return answer_request(
            session,
            params,
            progress,
            work,
            status_code=lambda r: 200 if r["replayed"] else 201,
            audit_object=lambda r: ("bank_file", r["file_id"]),
        )
