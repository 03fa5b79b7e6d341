"""Fund documents and fund-flow reads over HTTP: parse, authorise, call the service, answer."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request

from ledger.access.audit import set_audit_object
from ledger.access.deps import CurrentUser, IdempotencyKey, SessionDep, require_role, require_scope
from ledger.documents import flow, service
from ledger.documents.models import (
    AllocationCreate,
    Approval,
    DocumentPublic,
    FundFlow,
    ReallocationCreate,
    TransferCreate,
)
from ledger.errors import ERROR_RESPONSES, Forbidden
from ledger.jurisdictions.service import fund_code, get_jurisdiction

router = APIRouter(tags=["documents"], responses=ERROR_RESPONSES)


def _create(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    key: str,
    doc_type: str,
    body: AllocationCreate | TransferCreate | ReallocationCreate,
) -> DocumentPublic:
    require_role(user, "finance")
    to_jurisdiction = getattr(body, "to_jurisdiction", None)
    if to_jurisdiction is not None:
        require_scope(user, to_jurisdiction)
    doc = service.create_document(
        session,
        principal=user,
        key=key,
        doc_type=doc_type,
        number=body.number,
        fiscal_year=body.fiscal_year,
        amount_fen=body.amount,
        fund=str(getattr(body, "from_fund", None) or getattr(body, "fund", "")),
        to_jurisdiction=to_jurisdiction,
        to_fund=getattr(body, "to_fund", None),
        memo=body.memo,
        effective_date=body.effective_date,
    )
    set_audit_object(request, "fund_document", doc["id"])
    return DocumentPublic(**doc)


@router.post("/documents/allocations", response_model=DocumentPublic, status_code=201)
def create_allocation(
    request: Request,
    body: AllocationCreate,
    session: SessionDep,
    user: CurrentUser,
    key: IdempotencyKey,
) -> DocumentPublic:
    """Draft an allocation (拨款) of the caller's bureau."""
    return _create(request, session, user, key, "allocation", body)


@router.post("/documents/transfers", response_model=DocumentPublic, status_code=201)
def create_transfer(
    request: Request,
    body: TransferCreate,
    session: SessionDep,
    user: CurrentUser,
    key: IdempotencyKey,
) -> DocumentPublic:
    """Draft a transfer payment (转移支付) to a direct child of the caller's jurisdiction."""
    return _create(request, session, user, key, "transfer", body)


@router.post("/documents/reallocations", response_model=DocumentPublic, status_code=201)
def create_reallocation(
    request: Request,
    body: ReallocationCreate,
    session: SessionDep,
    user: CurrentUser,
    key: IdempotencyKey,
) -> DocumentPublic:
    """Draft a reallocation between two funds (调剂) of the caller's jurisdiction."""
    return _create(request, session, user, key, "reallocation", body)


def _require_document_scope(session: SessionDep, user: CurrentUser, document_id: int) -> None:
    issuer, receiver = service.document_scope(session, document_id=document_id)
    if not (user.sees(issuer) or (receiver is not None and user.sees(receiver))):
        raise Forbidden(
            f"document {document_id} is outside your scope",
            [{"field": "document_id", "reason": "out of scope"}],
        )


@router.post("/documents/{document_id:int}/approval", response_model=Approval)
def approve(
    document_id: int, session: SessionDep, user: CurrentUser, key: IdempotencyKey
) -> Approval:
    """Approve and post a draft: another finance user of the issuing bureau than its maker.

    Approving a posted document again is a no-op (``newly_approved`` is false)."""
    require_role(user, "finance")
    _require_document_scope(session, user, document_id)
    doc, newly = service.approve_document(session, principal=user, key=key, document_id=document_id)
    return Approval(document=DocumentPublic(**doc), newly_approved=newly)


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
    status: Literal["draft", "posted"] | None = None,
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
    return FundFlow(
        **flow.fund_flow(
            session,
            jurisdiction=code,
            fund=fund_code(session, fund),
            fiscal_year=fiscal_year or date.today().year,
        )
    )
