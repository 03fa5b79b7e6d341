"""The unit of work: the one place a write commits (cosmicpython's ``with uow: …; uow.commit()``).

Every write — from the API, the CLI and the demo — runs as ``UnitOfWork(...).run(work, ...)``:
1. it opens the transaction;
2. it claims the idempotency key, scoped to (principal, operation, key); a replay by the same
   principal gets the first answer (and its status) back, and nothing runs again;
3. it runs the service (``work(session)``), which never commits;
4. it records the answer under the key and writes the audit-log row of the accepted write in
   the same transaction;
5. it commits once.
A refusal rolls everything back; its audit row is written in a transaction of its own (by the
HTTP middleware, which knows the status it answered, or here for operators' commands).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from fastapi.encoders import jsonable_encoder
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ledger.access.service import Principal
from ledger.errors import DomainError
from ledger.journal import idempotency

log = logging.getLogger("ledger.uow")


@dataclass(frozen=True)
class Written:
    """A write's answer: its JSON body, the status it was first answered with, and whether this
    call was a replay of an earlier one."""

    body: dict[str, Any]
    status_code: int
    replayed: bool


@dataclass
class AuditTrail:
    """What the audit-log row says of the write besides who and the outcome."""

    action: str
    object_type: str | None = None
    object_id: str | None = None
    request_id: str | None = None
    client_addr: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


def principal_key(principal: Principal | None, operator: str | None) -> str:
    """Whose idempotency keys these are: a user's own, or an operator's on the command line."""
    if principal is not None and principal.user_id:
        return f"user:{principal.user_id}"
    return f"operator:{operator or 'system'}"


class UnitOfWork:
    def __init__(
        self,
        engine: Engine,
        *,
        trail: AuditTrail,
        principal: Principal | None = None,
        operator: str | None = None,
        audit_refusals: bool = True,
    ) -> None:
        self.engine = engine
        self.trail = trail
        self.principal = principal
        self.operator = operator
        # Over HTTP the middleware records refusals, with the status it answered.
        self.audit_refusals = audit_refusals

    @property
    def actor(self) -> str:
        return self.principal.username if self.principal else (self.operator or "system")

    def run(
        self,
        work: Callable[[Session], Any],
        *,
        operation: str,
        key: str | None,
        body: Any = None,
        status_code: int | Callable[[dict[str, Any]], int] = 200,
        audit_object: Callable[[dict[str, Any]], tuple[str, Any]] | None = None,
    ) -> Written:
        owner = principal_key(self.principal, self.operator)
        request_body = jsonable_encoder(body)
        with Session(self.engine, expire_on_commit=False) as session:
            try:
                if key is not None:
                    stored = idempotency.claim(
                        session, principal=owner, key=key, operation=operation, body=request_body
                    )
                    if stored is not None:
                        from ledger.access.audit import outcome_of

                        outcome = outcome_of(stored.status_code)  # a job's refusal is kept too
                        self._audit(session, outcome, stored.status_code, replayed=True)
                        session.commit()
                        return Written(stored.response, stored.status_code, True)
                written = self.answer(
                    session,
                    work,
                    operation=operation,
                    key=key,
                    status_code=status_code,
                    audit_object=audit_object,
                )
                session.commit()
                return written
            except BaseException as exc:
                session.rollback()
                if self.audit_refusals and isinstance(exc, Exception):
                    self._audit_refusal(exc)
                raise

    def answer(
        self,
        session: Session,
        work: Callable[[Session], Any],
        *,
        operation: str,
        key: str | None,
        status_code: int | Callable[[dict[str, Any]], int] = 200,
        audit_object: Callable[[dict[str, Any]], tuple[str, Any]] | None = None,
    ) -> Written:
        """Steps 3 and 4 in ``session``'s transaction, for a key already claimed: run the
        work, record its answer under the key and the audit row; the caller commits. A queued
        job finishes the request that queued it with this."""
        answer = jsonable_encoder(work(session))
        if not isinstance(answer, dict):
            answer = {"result": answer}
        status = status_code(answer) if callable(status_code) else status_code
        if key is not None:
            idempotency.record(
                session,
                principal=principal_key(self.principal, self.operator),
                key=key,
                operation=operation,
                response=answer,
                status_code=status,
            )
        if audit_object is not None:
            object_type, object_id = audit_object(answer)
            self.trail.object_type, self.trail.object_id = object_type, str(object_id)
        self._audit(session, "accepted", status)
        return Written(answer, status, False)

    def record_refusal(
        self, session: Session, exc: Exception, *, operation: str, key: str | None
    ) -> None:
        """A claimed request refused after it was answered 202 (by its job): a domain refusal
        becomes the key's answer, so a replay gets it; the audit row says what happened. In
        ``session``'s transaction; the caller commits."""
        from ledger.access.audit import outcome_of

        status = exc.status_code if isinstance(exc, DomainError) else 500
        if isinstance(exc, DomainError) and key is not None:
            idempotency.record(
                session,
                principal=principal_key(self.principal, self.operator),
                key=key,
                operation=operation,
                response=exc.body(),
                status_code=status,
            )
        error = exc.message if isinstance(exc, DomainError) else type(exc).__name__
        self.trail.detail = {**self.trail.detail, "error": error}
        self._audit(session, outcome_of(status), status)

    def describe(self) -> dict[str, Any]:
        """Who and what, as JSON: a queued job rebuilds this unit of work with ``described``."""
        return {
            "trail": asdict(self.trail),
            "principal": asdict(self.principal) if self.principal else None,
            "operator": self.operator,
        }

    @classmethod
    def described(cls, engine: Engine, description: dict[str, Any]) -> UnitOfWork:
        principal = description.get("principal")
        return cls(
            engine,
            trail=AuditTrail(**description["trail"]),
            principal=Principal(**principal) if principal else None,
            operator=description.get("operator"),
        )

    def _audit(
        self, session: Session, outcome: str, status: int | None, *, replayed: bool = False
    ) -> None:
        from ledger.access.audit import record_audit

        detail = dict(self.trail.detail)
        if replayed:
            detail["replayed"] = True
        if self.principal is None:
            detail["operator"] = self.actor
        record_audit(
            session,
            action=self.trail.action,
            outcome=outcome,
            principal=self.principal,
            username=None if self.principal else self.actor,
            object_type=self.trail.object_type,
            object_id=self.trail.object_id,
            request_id=self.trail.request_id,
            client_addr=self.trail.client_addr,
            status_code=status,
            detail=detail,
        )

    def _audit_refusal(self, exc: Exception) -> None:
        from ledger.access.audit import outcome_of

        status = exc.status_code if isinstance(exc, DomainError) else 500
        self.trail.detail = {
            **self.trail.detail,
            "error": exc.message if isinstance(exc, DomainError) else type(exc).__name__,
        }
        try:
            with Session(self.engine) as session:
                self._audit(session, outcome_of(status), status)
                session.commit()
        except Exception:  # the refusal itself stands; its record is lost only with the database
            log.exception("could not record the refusal of %s", self.trail.action)


def operator_name() -> str:
    """Who runs a command on this machine, as the audit log names an operator."""
    import getpass

    return f"cli:{getpass.getuser()}"


def operator_write(
    engine: Engine,
    *,
    action: str,
    operator: str,
    work: Callable[[Session], Any],
    key: str | None = None,
    body: Any = None,
    principal: Principal | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    operation: str | None = None,
    audit_object: Callable[[dict[str, Any]], tuple[str, Any]] | None = None,
) -> dict[str, Any]:
    """A write from the command line or the demo: the same unit of work, audited as the
    operator (or as the named user when the command acts for one). ``operation`` (default: the
    action) scopes the idempotency key, as a route's operation does."""
    trail = AuditTrail(action=action, object_type=object_type, object_id=object_id)
    uow = UnitOfWork(engine, trail=trail, principal=principal, operator=operator)
    return uow.run(
        work, operation=operation or action, key=key, body=body, audit_object=audit_object
    ).body
