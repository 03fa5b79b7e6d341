"""Who a ``ledger`` command acts as, and the write path it acts through.

``ledger --as USERNAME …`` names the user; the command then runs the API's own route function
(the same authorisation, service and answer model) with a ``CommandWrite`` in place of the
HTTP request's write: ``operator_write`` with that user as the principal, so four-eyes, scope
and idempotency are the API's. Auditors stay read-only, as over HTTP.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, TypeVar

import typer
from sqlalchemy.orm import Session

from ledger.access.service import Principal, principal_of
from ledger.db import get_engine, session_scope
from ledger.errors import Forbidden
from ledger.uow import operator_name, operator_write

T = TypeVar("T")
acting_as: ContextVar[str | None] = ContextVar("acting_as", default=None)
"""The ``--as`` of the running command (or LEDGER_AS); ``ledger``'s callback sets it."""


def acting_username() -> str | None:
    return acting_as.get()


def acting() -> Principal:
    """The principal named by ``--as``; a usage error when none is named."""
    username = acting_username()
    if not username:
        raise typer.BadParameter(
            "this command acts as a user: give `ledger --as USERNAME …` (or set LEDGER_AS)",
            param_hint="--as",
        )
    with session_scope() as session:
        return principal_of(session, username)


def acting_or_none() -> Principal | None:
    """The principal named by ``--as`` if any: operator commands act as the operator without."""
    return acting() if acting_username() else None


def read(work: Callable[[Session], T]) -> T:
    """A read in its own session (what ``SessionDep`` is to a route)."""
    with session_scope() as session:
        return work(session)


class CommandWrite:
    """A route's ``Writer`` on the command line: the unit of work as the acting user."""

    def __init__(self, principal: Principal, action: str, *, audit_action: bool = False) -> None:
        if principal.role == "auditor" and not audit_action:
            raise Forbidden(
                "an auditor reads and changes nothing",
                [{"field": "role", "reason": "auditors are read-only"}],
            )
        self.principal, self.action = principal, action

    def run(
        self,
        work: Callable[[Session], Any],
        *,
        operation: str,
        body: Any = None,
        status_code: int | Callable[[dict[str, Any]], int] = 200,
        audit_object: Callable[[dict[str, Any]], tuple[str, Any]] | None = None,
    ) -> dict[str, Any]:
        return operator_write(
            get_engine(),
            action=self.action,
            operator=operator_name(),
            principal=self.principal,
            work=work,
            body=body,
            operation=operation,
            audit_object=audit_object,
        )


__all__ = ["CommandWrite", "acting", "acting_or_none", "acting_username", "read"]
