"""Complaints over HTTP: recorded and closed by a bureau through the write path; submitted by
anyone without an account at ``/public/complaints`` (bounded in size by the schema and the
upload limit, in number per client address and hour) and followed with the reference."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request

from ledger.access.audit import route_of, subtree_prefix
from ledger.access.deps import (
    CurrentUser,
    SessionDep,
    Write,
    app_engine,
    require_role,
    require_scope,
)
from ledger.api import client_address
from ledger.complaints import service
from ledger.complaints.models import (
    ComplaintClose,
    ComplaintCreate,
    ComplaintPublic,
    ComplaintStatus,
    PublicComplaint,
)
from ledger.errors import ERROR_RESPONSES, ErrorResponse
from ledger.pii import person_key
from ledger.uow import AuditTrail, UnitOfWork

router = APIRouter(tags=["complaints"], responses=ERROR_RESPONSES)
Reference = Annotated[str, Path(pattern=r"^TS[2-9A-HJ-NP-Z]{10}$")]


@router.post("/complaints", response_model=ComplaintPublic, status_code=201)
def create_complaint(body: ComplaintCreate, user: CurrentUser, write: Write) -> ComplaintPublic:
    """Record a complaint or report (投诉举报) received by hotline, letter, visit or web; its
    deadline is the configured number of working days after receipt (default 15)."""
    require_role(user, "civil_affairs", "admin")
    require_scope(user, body.jurisdiction)
    result = write.run(
        lambda s: service.create_complaint(
            s,
            channel=body.channel,
            received_on=body.received_on,
            jurisdiction=body.jurisdiction,
            concerns=body.concerns,
            content=body.content,
            created_by=user.username,
            id_number=body.id_number,
            household_id=body.household_id,
            batch_id=body.batch_id,
            handler=body.handler,
            finding_ids=body.finding_ids,
        ),
        operation="complaint_create",
        # the ID number is kept out of the stored request: only its key is in the row
        body={
            **body.model_dump(mode="json", exclude={"id_number"}),
            "person": person_key(body.id_number) if body.id_number else None,
        },
        status_code=201,
        audit_object=lambda r: ("complaint", r["id"]),
    )
    return ComplaintPublic(**result)


@router.post("/complaints/{complaint_id}/closure", response_model=ComplaintPublic)
def close_complaint(
    complaint_id: int, body: ComplaintClose, session: SessionDep, user: CurrentUser, write: Write
) -> ComplaintPublic:
    """Close a complaint with its outcome and the findings its handling closed."""
    require_role(user, "civil_affairs", "admin")
    require_scope(user, service.complaint_jurisdiction(session, complaint_id))
    result = write.run(
        lambda s: service.close_complaint(
            s,
            complaint_id=complaint_id,
            outcome=body.outcome,
            closed_on=body.closed_on,
            closed_by=user.username,
            finding_ids=body.finding_ids,
        ),
        operation="complaint_close",
        body={"complaint_id": complaint_id, **body.model_dump(mode="json")},
        audit_object=lambda r: ("complaint", r["id"]),
    )
    return ComplaintPublic(**result)


@router.get("/jurisdictions/{code}/complaints", response_model=list[ComplaintPublic])
def list_complaints(
    code: str,
    session: SessionDep,
    user: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[ComplaintPublic]:
    """The complaints of a jurisdiction's subtree, newest first."""
    require_role(user, "civil_affairs", "auditor", "admin")
    require_scope(user, code)
    rows = service.list_complaints(session, pattern=subtree_prefix(code) + "%", limit=limit)
    return [ComplaintPublic(**r) for r in rows]


def _public_unit_of_work(request: Request) -> UnitOfWork:
    action, object_type, object_id = route_of(request)
    trail = AuditTrail(
        action=action,
        object_type=object_type,
        object_id=object_id,
        request_id=getattr(request.state, "request_id", None),
        client_addr=client_address(request),
        detail={"method": request.method, "path": request.url.path},
    )
    return UnitOfWork(app_engine(request), trail=trail, operator="public", audit_refusals=False)


RATE_LIMITED: dict[int | str, dict[str, Any]] = {
    429: {"model": ErrorResponse, "description": "Too many submissions from this address this hour"}
}


@router.post(
    "/public/complaints", response_model=ComplaintStatus, status_code=201, responses=RATE_LIMITED
)
def submit_complaint(request: Request, body: PublicComplaint) -> ComplaintStatus:
    """Anyone may report (举报) without an account; the answer's reference shows the status
    later. Nothing about the submitter is asked; the content is read only by the bureau."""

    def work(s: Any) -> dict[str, Any]:
        return service.submit_public(
            s,
            jurisdiction=body.jurisdiction,
            content=body.content,
            client_addr=client_address(request) or "unknown",
        )

    written = _public_unit_of_work(request).run(
        work,
        operation="public_complaint",
        key=None,
        status_code=201,
        audit_object=lambda r: ("complaint", r["reference"]),
    )
    request.state.audited = True
    return ComplaintStatus(**written.body)


@router.get("/public/complaints/{reference}", response_model=ComplaintStatus)
def complaint_status(reference: Reference, session: SessionDep) -> ComplaintStatus:
    """Where a complaint stands: received, deadline, open or closed. Nothing personal."""
    return ComplaintStatus(**service.public_status(session, reference=reference))
