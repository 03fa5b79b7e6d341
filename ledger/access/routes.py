"""Who am I, who may act here, and what they did: the caller, a subtree's users and audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from ledger.access import audit, service
from ledger.access.deps import CurrentUser, SessionDep, require_role, require_scope
from ledger.access.models import AuditRow, PrincipalPublic, UserPublic
from ledger.errors import ERROR_RESPONSES
from ledger.jurisdictions.service import get_jurisdiction

router = APIRouter(tags=["access"], responses=ERROR_RESPONSES)


@router.get("/me", response_model=PrincipalPublic)
def read_me(user: CurrentUser) -> PrincipalPublic:
    return PrincipalPublic(
        username=user.username,
        role=user.role,
        bureau_id=user.bureau_id,
        jurisdiction=user.jurisdiction,
        bank_code=user.bank_code,
    )


@router.get("/jurisdictions/{code}/users", response_model=list[UserPublic])
def read_users(code: str, session: SessionDep, user: CurrentUser) -> list[UserPublic]:
    """Users of the bureaus in a subtree, for administrators and auditors."""
    require_role(user, "admin", "auditor")
    require_scope(user, code)
    get_jurisdiction(session, code)
    return [UserPublic(**r) for r in service.list_users(session, jurisdiction=code)]


@router.get("/jurisdictions/{code}/audit-log", response_model=list[AuditRow])
def read_audit_log(
    code: str,
    session: SessionDep,
    user: CurrentUser,
    after_id: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditRow]:
    """Every write and attempted write by users of the subtree, oldest first."""
    require_role(user, "admin", "auditor")
    require_scope(user, code)
    get_jurisdiction(session, code)
    rows = audit.read_audit_log(session, jurisdiction=code, limit=limit, after_id=after_id)
    return [AuditRow(**r) for r in rows]
