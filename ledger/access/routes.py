"""Who am I, who may act here, and what they did: the caller, a subtree's users and audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from ledger.access import audit, service
from ledger.access.deps import CurrentUser, SessionDep, Write, require_role, require_scope
from ledger.access.models import (
    AuditRow,
    BankCreate,
    BankPublic,
    PrincipalPublic,
    TokenCreate,
    TokenIssued,
    TokensRevoked,
    UserCreate,
    UserPublic,
)
from ledger.access.service import Principal
from ledger.errors import ERROR_RESPONSES, Forbidden, NotFound
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


def require_admin(user: Principal) -> None:
    """Banks, users and tokens are the province's administrators' (an admin of 440000)."""
    require_role(user, "admin")
    if user.jurisdiction not in ("000000", "440000"):
        raise Forbidden(
            "banks, users and tokens are administered at province level",
            [{"field": "jurisdiction", "reason": "not a province administrator"}],
        )


@router.post("/banks", response_model=BankPublic, status_code=201)
def create_bank(body: BankCreate, user: CurrentUser, write: Write) -> BankPublic:
    """Register a bank (or add counties it serves): a province administrator."""
    require_admin(user)
    for county in body.counties:
        require_scope(user, county)
    result = write.run(
        lambda s: service.add_bank(s, code=body.code, name=body.name, counties=body.counties),
        operation="bank_add",
        body=body.model_dump(),
        status_code=201,
        audit_object=lambda b: ("bank", b["code"]),
    )
    return BankPublic(**result)


@router.get("/banks", response_model=list[BankPublic])
def read_banks(session: SessionDep, user: CurrentUser) -> list[BankPublic]:
    require_admin(user)
    return [BankPublic(**b) for b in service.list_banks(session)]


@router.post("/users", response_model=UserPublic, status_code=201)
def create_user(body: UserCreate, user: CurrentUser, write: Write) -> UserPublic:
    """Create a user of a bureau (the bureau is made when new): a province administrator."""
    require_admin(user)
    require_scope(user, body.jurisdiction)
    result = write.run(
        lambda s: service.add_user(s, **body.model_dump()),
        operation="user_add",
        body=body.model_dump(),
        status_code=201,
        audit_object=lambda u: ("app_user", u["id"]),
    )
    return UserPublic(**result)


@router.get("/users", response_model=list[UserPublic])
def read_all_users(
    session: SessionDep, user: CurrentUser, jurisdiction: str | None = None
) -> list[UserPublic]:
    require_admin(user)
    if jurisdiction is not None:
        get_jurisdiction(session, jurisdiction)
    return [UserPublic(**r) for r in service.list_users(session, jurisdiction=jurisdiction)]


def _user(session: Session, user_id: int) -> UserPublic:
    found = [u for u in service.list_users(session) if u["id"] == user_id]
    if not found:
        raise NotFound(f"no user {user_id}", [{"field": "user_id", "reason": "unknown user"}])
    return UserPublic(**found[0])


@router.post("/users/{user_id:int}/tokens", response_model=TokenIssued, status_code=201)
def issue_token(
    user_id: int, body: TokenCreate, session: SessionDep, user: CurrentUser, write: Write
) -> TokenIssued:
    """Issue an API token: shown in this answer once, stored only hashed."""
    require_admin(user)
    target = _user(session, user_id)
    issued: list[str] = []  # the token never enters the stored answer of the idempotency key

    def work(s: Session) -> dict[str, Any]:
        issued.append(service.issue_token(s, user_id=user_id, days=body.days, label=body.label))
        return {"user_id": user_id, "username": target.username, **body.model_dump()}

    result = write.run(
        work,
        operation=f"token_issue:{user_id}",
        body=body.model_dump(),
        status_code=201,
        audit_object=lambda t: ("app_user", t["user_id"]),
    )
    return TokenIssued(**result, token=issued[0] if issued else None)


@router.delete("/tokens/{token_id:int}", response_model=TokensRevoked)
def revoke_token(token_id: int, user: CurrentUser, write: Write) -> TokensRevoked:
    """Revoke a live token by its id."""
    require_admin(user)

    def work(s: Session) -> dict[str, int]:
        revoked = service.revoke_tokens(s, token_id=token_id)
        if not revoked:
            raise NotFound("no such active token", [{"field": "token_id", "reason": "not live"}])
        return {"revoked": revoked}

    result = write.run(
        work,
        operation=f"token_revoke:{token_id}",
        body={"token_id": token_id},
        audit_object=lambda _: ("api_token", token_id),
    )
    return TokensRevoked(**result)
