"""FastAPI dependencies: the session, the calling principal and the scope checks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy.orm import Session

from ledger.access.service import Principal, authenticate
from ledger.db import get_engine
from ledger.errors import Forbidden, Unauthenticated


def get_session(request: Request) -> Iterator[Session]:
    engine = getattr(request.app.state, "engine", None) or get_engine()
    with Session(engine, expire_on_commit=False) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def current_principal(
    request: Request, session: SessionDep, authorization: Annotated[str | None, Header()] = None
) -> Principal:
    if not authorization or not authorization.lower().startswith("bearer "):
        raise Unauthenticated("send 'Authorization: Bearer <token>'")
    principal = authenticate(session, authorization[7:].strip())
    session.commit()
    request.state.principal = principal
    return principal


CurrentUser = Annotated[Principal, Depends(current_principal)]
IdempotencyKey = Annotated[str, Header(alias="Idempotency-Key", min_length=1, max_length=200)]


def require_role(principal: Principal, *roles: str) -> None:
    if principal.role not in roles:
        raise Forbidden(
            f"role {principal.role} may not do this; allowed: {', '.join(roles)}",
            [{"field": "role", "reason": "not allowed"}],
        )


def require_scope(principal: Principal, jurisdiction: str) -> None:
    if not principal.sees(jurisdiction):
        raise Forbidden(
            f"jurisdiction {jurisdiction} is outside the scope of {principal.jurisdiction}",
            [{"field": "jurisdiction", "reason": "out of scope"}],
        )
