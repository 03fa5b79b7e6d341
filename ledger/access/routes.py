"""Who am I, who may act here, and what they did: the caller, a subtree's users and audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query

from ledger.access import audit, service
from ledger.access.deps import CurrentUser, SessionDep, require_role, require_scope
from ledger.access.models import AuditRow, PrincipalPublic, UserPublic
from ledger.errors import ERROR_RESPONSES
from ledger.jurisdictions.service import get_jurisdiction
from ledger.paging import CursorQuery, LimitQuery, Page, StrictQuery, decode_cursor, page_of

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


AuditOutcome = Literal["accepted", "refused", "failed"]


class AuditFilters:
    """The audit log's filters, shared by the list and the paged list."""

    def __init__(
        self,
        action: Annotated[str | None, Query(max_length=200, examples=["approve"])] = None,
        user: Annotated[str | None, Query(max_length=200, description="username")] = None,
        outcome: AuditOutcome | None = None,
        from_: Annotated[
            datetime | None, Query(alias="from", description="at or after (ISO 8601)")
        ] = None,
        to: Annotated[datetime | None, Query(description="before (ISO 8601)")] = None,
    ) -> None:
        self.action, self.user, self.outcome, self.since, self.until = (
            action,
            user,
            outcome,
            from_,
            to,
        )

    def read(
        self, session: SessionDep, code: str, *, after_id: int, limit: int
    ) -> list[dict[str, Any]]:
        return audit.read_audit_log(
            session,
            jurisdiction=code,
            limit=limit,
            after_id=after_id,
            action=self.action,
            username=self.user,
            outcome=self.outcome,
            since=self.since,
            until=self.until,
        )


def _audit_reader(session: SessionDep, user: CurrentUser, code: str) -> None:
    require_role(user, "admin", "auditor")
    require_scope(user, code)
    get_jurisdiction(session, code)


@router.get(
    "/jurisdictions/{code}/audit-log", response_model=list[AuditRow], dependencies=[StrictQuery]
)
def read_audit_log(
    code: str,
    session: SessionDep,
    user: CurrentUser,
    filters: Annotated[AuditFilters, Depends()],
    after_id: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditRow]:
    """Every write and attempted write by users of the subtree, oldest first."""
    _audit_reader(session, user, code)
    return [AuditRow(**r) for r in filters.read(session, code, after_id=after_id, limit=limit)]


@router.get("/audit-log", response_model=Page[AuditRow], dependencies=[StrictQuery])
def read_audit_log_page(
    session: SessionDep,
    user: CurrentUser,
    filters: Annotated[AuditFilters, Depends()],
    jurisdiction: Annotated[str, Query(pattern=r"^[0-9]{6}$", examples=["440103"])],
    cursor: CursorQuery = None,
    limit: LimitQuery = 100,
) -> Page[AuditRow]:
    """The audit log of a subtree, paged by cursor and filtered by action, user, outcome and
    time (``from`` ≤ at < ``to``); an unknown filter is refused (422)."""
    _audit_reader(session, user, jurisdiction)
    rows = filters.read(session, jurisdiction, after_id=decode_cursor(cursor), limit=limit + 1)
    return page_of(rows, limit, lambda r: AuditRow(**r))
