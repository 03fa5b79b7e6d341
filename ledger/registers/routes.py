"""The notice's registers over HTTP: holdings files (banks, securities firms, insurers) and a
household review written one by one. The other registers upload through the roster routes."""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, UploadFile

from ledger.access.deps import (
    CurrentUser,
    IdempotencyKey,
    RequestWrite,
    Write,
    require_role,
    require_scope,
)
from ledger.access.service import Principal
from ledger.errors import ERROR_RESPONSES, ValidationFailed
from ledger.money import AmountError, parse_amount_fen
from ledger.registers import service
from ledger.registers.models import ReviewCreate, ReviewPublic
from ledger.roster.models import RegisterImportPublic
from ledger.roster.routes import read_upload

router = APIRouter(tags=["registers"], responses=ERROR_RESPONSES)


def holdings_importer(
    user: CurrentUser,
    jurisdiction: Annotated[str | None, Query(pattern=r"^[0-9]{6}$")] = None,
) -> tuple[Principal, str]:
    """A bank reports for its own bank; civil affairs (who receive the securities and insurance
    regulators' data) for their jurisdiction or one below. Authorised before the upload is read."""
    require_role(user, "bank", "civil_affairs", "admin")
    if user.role == "bank":
        return user, user.jurisdiction
    jur = jurisdiction or user.jurisdiction
    require_scope(user, jur)
    return user, jur


@router.post("/registers/holdings", response_model=RegisterImportPublic, status_code=201)
def upload_holdings(
    request: Request,
    response: Response,
    file: UploadFile,
    importer: Annotated[tuple[Principal, str], Depends(holdings_importer)],
    key: IdempotencyKey,
) -> RegisterImportPublic:
    """Holdings (存款余额、有价证券、商业保险) by ID number, institution, account or policy, value and
    as-of date, CSV or XLSX. A bank user's lines must all be at its own bank. Any bad line: 422
    naming it, and nothing is imported. ID numbers and accounts are kept only hashed and masked."""
    user, jur = importer
    data = read_upload(file)
    result = RequestWrite(request, response, user, key).run(
        lambda s: service.import_holdings(
            s,
            jurisdiction=jur,
            data=data,
            filename=file.filename or "",
            imported_by=user.username,
            bank_code=user.bank_code if user.role == "bank" else None,
        ),
        operation="holdings_import",
        body={"jurisdiction": jur, "sha256": hashlib.sha256(data).hexdigest()},
        status_code=201,
        audit_object=lambda r: ("register_import", r["import_id"]),
    )
    return RegisterImportPublic(**result)


def reviewer_of(county: str, user: CurrentUser) -> Principal:
    """The county's civil affairs record its reviews; authorised before the body is validated."""
    require_role(user, "civil_affairs", "admin")
    require_scope(user, county)
    return user


@router.post("/counties/{county}/reviews", response_model=ReviewPublic, status_code=201)
def create_review(
    county: str,
    body: ReviewCreate,
    user: Annotated[Principal, Depends(reviewer_of)],
    write: Write,
) -> ReviewPublic:
    """Record one household review (动态复核): an information check or a home visit."""
    try:
        assets = None if body.assets is None else parse_amount_fen(body.assets, allow_zero=True)
    except AmountError as exc:
        raise ValidationFailed(str(exc), [{"field": "assets", "reason": str(exc)}]) from None
    result = write.run(
        lambda s: service.record_review(
            s,
            county=county,
            household_id=body.household_id,
            kind=body.kind,
            reviewed_on=body.reviewed_on,
            outcome=body.outcome,
            reviewer=body.reviewer,
            assets_fen=assets,
            recorded_by=user.username,
        ),
        operation="review_create",
        body={"county": county, **body.model_dump(mode="json")},
        status_code=201,
        audit_object=lambda r: ("household_review", r["id"]),
    )
    return ReviewPublic(**result)
