"""Fund documents and fund-flow reads over HTTP: parse, authorise, call the service, answer."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from sqlalchemy.orm import Session

from ledger.access.deps import (
    CurrentUser,
    SessionDep,
    Write,
    Writer,
    require_role,
    require_scope,
)
from ledger.access.service import Principal
from ledger.documents import flow, service
from ledger.documents.models import (
    AllocationCreate,
    Approval,
    Decision,
    DocumentPublic,
    FundFlow,
    ReallocationCreate,
    TransferCreate,
)
from ledger.errors import ERROR_RESPONSES, Forbidden
from ledger.jurisdictions.service import fund_code, get_jurisdiction
from ledger.paging import CursorQuery, LimitQuery, Page, StrictQuery, decode_cursor, page_of
from ledger.replica import read_snapshot

router = APIRouter(tags=["documents"], responses=ERROR_RESPONSES)


def _create(
    user: Principal,
    write: Writer,
    doc_type: str,
    body: AllocationCreate | TransferCreate | ReallocationCreate,
) -> DocumentPublic:
    require_role(user, "finance")
    to_jurisdiction = getattr(body, "to_jurisdiction", None)
    if to_jurisdiction is not None:
        require_scope(user, to_jurisdiction)
    doc = write.run(
        lambda s: service.create_document(
            s,
            principal=user,
            doc_type=doc_type,
            number=body.number,
            fiscal_year=body.fiscal_year,
            amount_fen=body.amount,
            fund=str(getattr(body, "from_fund", None) or getattr(body, "fund", "")),
            to_jurisdiction=to_jurisdiction,
            to_fund=getattr(body, "to_fund", None),
            memo=body.memo,
            effective_date=body.effective_date,
        ),
        operation=f"document:{doc_type}",
        body=body.model_dump(mode="json"),
        status_code=201,
        audit_object=lambda d: ("fund_document", d["id"]),
    )
    return DocumentPublic(**doc)


@router.post("/documents/allocations", response_model=DocumentPublic, status_code=201)
def create_allocation(body: AllocationCreate, user: CurrentUser, write: Write) -> DocumentPublic:
    """Draft an allocation (拨款) of the caller's bureau."""
    return _create(user, write, "allocation", body)


@router.post("/documents/transfers", response_model=DocumentPublic, status_code=201)
def create_transfer(body: TransferCreate, user: CurrentUser, write: Write) -> DocumentPublic:
    """Draft a transfer payment (转移支付) to a direct child of the caller's jurisdiction."""
    return _create(user, write, "transfer", body)


@router.post("/documents/reallocations", response_model=DocumentPublic, status_code=201)
def create_reallocation(
    body: ReallocationCreate, user: CurrentUser, write: Write
) -> DocumentPublic:
    """Draft a reallocation between two funds (调剂) of the caller's jurisdiction."""
    return _create(user, write, "reallocation", body)


def _require_document_scope(session: SessionDep, user: CurrentUser, document_id: int) -> None:
    issuer, receiver = service.document_scope(session, document_id=document_id)
    if not (user.sees(issuer) or (receiver is not None and user.sees(receiver))):
        raise Forbidden(
            f"document {document_id} is outside your scope",
            [{"field": "document_id", "reason": "out of scope"}],
        )


@router.post("/documents/{document_id:int}/approval", response_model=Approval)
def approve(document_id: int, session: SessionDep, user: CurrentUser, write: Write) -> Approval:
    """Approve and post a draft: another finance user of the issuing bureau than its maker.

    Approving a posted document again is a no-op (``newly_approved`` is false). Approving a
    reversal posts its mirror entries and marks the original ``reversed``."""
    require_role(user, "finance")
    _require_document_scope(session, user, document_id)
    result = write.run(
        lambda s: service.approve_document(s, principal=user, document_id=document_id),
        operation=f"approve:{document_id}",
        body={"document_id": document_id},
    )
    return Approval(**result)


def _decide(
    session: Session,
    user: Principal,
    write: Writer,
    document_id: int,
    decision: str,
    body: Decision,
) -> DocumentPublic:
    require_role(user, "finance")
    _require_document_scope(session, user, document_id)
    doc = write.run(
        lambda s: service.decide_draft(
            s, principal=user, document_id=document_id, decision=decision, reason=body.reason
        ),
        operation=f"{decision}:{document_id}",
        body=body.model_dump(),
    )
    return DocumentPublic(**doc)


@router.post("/documents/{document_id:int}/rejection", response_model=DocumentPublic)
def reject(
    document_id: int, body: Decision, session: SessionDep, user: CurrentUser, write: Write
) -> DocumentPublic:
    """Reject a draft, with a reason: a finance user of the issuing bureau other than its maker."""
    return _decide(session, user, write, document_id, "rejected", body)


@router.post("/documents/{document_id:int}/withdrawal", response_model=DocumentPublic)
def withdraw(
    document_id: int, body: Decision, session: SessionDep, user: CurrentUser, write: Write
) -> DocumentPublic:
    """Withdraw one's own draft, with a reason."""
    return _decide(session, user, write, document_id, "withdrawn", body)


DocumentStatus = Literal["draft", "posted", "rejected", "withdrawn", "reversed"]


@router.get("/documents", response_model=Page[DocumentPublic], dependencies=[StrictQuery])
def list_documents(
    session: SessionDep,
    user: CurrentUser,
    status: DocumentStatus | None = None,
    awaiting_me: Annotated[
        bool, Query(description="drafts of my bureau made by someone else: mine to decide")
    ] = False,
    cursor: CursorQuery = None,
    limit: LimitQuery = 100,
) -> Page[DocumentPublic]:
    """Documents issued by or addressed to the caller's subtree; ``status=draft&awaiting_me=true``
    is the caller's approval queue."""
    require_role(user, "finance", "auditor", "admin")
    rows = service.document_queue(
        session,
        principal=user,
        status=status,
        awaiting_me=awaiting_me,
        after_id=decode_cursor(cursor),
        limit=limit,
    )
    return page_of(rows, limit, lambda r: DocumentPublic(**r))


@router.get("/documents/{document_id:int}", response_model=DocumentPublic)
def read_document(document_id: int, session: SessionDep, user: CurrentUser) -> DocumentPublic:
    _require_document_scope(session, user, document_id)
    return DocumentPublic(**service.get_document(session, document_id=document_id))


@router.get("/jurisdictions/{code}/documents", response_model=list[DocumentPublic])
def read_documents(
    code: str,
    session: SessionDep,
    user: CurrentUser,
    fiscal_year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
    status: Literal["draft", "posted", "rejected", "withdrawn", "reversed"] | None = None,
    after_id: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[DocumentPublic]:
    """Documents the jurisdiction issued or received."""
    require_scope(user, code)
    get_jurisdiction(session, code)
    rows = service.list_documents(
        session,
        jurisdiction=code,
        fiscal_year=fiscal_year,
        status=status,
        after_id=after_id,
        limit=limit,
    )
    return [DocumentPublic(**r) for r in rows]


@router.get("/jurisdictions/{code}/fund-flow", response_model=FundFlow)
def read_fund_flow(
    code: str,
    fund: str,
    session: SessionDep,
    user: CurrentUser,
    fiscal_year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
) -> FundFlow:
    """Received from above, own appropriation, sent below, paid to people, balance and execution
    rate of one fund and fiscal year, for the jurisdiction and each node below it, rolled up."""
    require_scope(user, code)
    get_jurisdiction(session, code)
    fund = fund_code(session, fund)
    with read_snapshot(session) as snap:  # the read replica, when one is configured
        tree = flow.fund_flow(
            snap, jurisdiction=code, fund=fund, fiscal_year=fiscal_year or date.today().year
        )
    return FundFlow(**tree)
