"""The unit of work: the one place a write commits (cosmicpython's ``with uow: …; uow.commit()``).

Every write — from the API, the CLI and the demo — runs as ``UnitOfWork(...).run(work, ...)``:
1. it opens the transaction;
2. it claims the idempotency key, scoped to (principal, operation, key); a replay by the same
   principal gets the first answer (and its status) back, and nothing runs again;
3. it runs the service (``work(session)``), which never commits;
4. it records the answer under the key and writes the audit-log row of the accepted write in
   the same transaction;
5. it commits once.
With a ``GroupPoster`` (below) steps 2–4 run in the poster's transaction, in
a savepoint of their own, and step 5 is the poster's one commit for the whole group.
A refusal rolls everything back; its audit row is written in a transaction of its own (by the
HTTP middleware, which knows the status it answered, or here for operators' commands).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import asdict, dataclass, field
from typing import Any

from fastapi.encoders import jsonable_encoder
from sqlalchemy import Engine, text
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
        poster: GroupPoster | None = None,
    ) -> None:
        self.engine = engine
        self.trail = trail
        self.principal = principal
        self.operator = operator
        # Over HTTP the middleware records refusals, with the status it answered.
        self.audit_refusals = audit_refusals
        # With a group poster the same steps run in its shared transaction, one savepoint each.
        self.poster = poster

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
        if self.poster is not None:
            return self.poster.run(
                self,
                work,
                operation=operation,
                key=key,
                body=body,
                status_code=status_code,
                audit_object=audit_object,
            )
        with Session(self.engine, expire_on_commit=False) as session:
            try:
                written = self.apply(
                    session,
                    work,
                    operation=operation,
                    key=key,
                    body=body,
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

    def apply(
        self,
        session: Session,
        work: Callable[[Session], Any],
        *,
        operation: str,
        key: str | None,
        body: Any = None,
        status_code: int | Callable[[dict[str, Any]], int] = 200,
        audit_object: Callable[[dict[str, Any]], tuple[str, Any]] | None = None,
    ) -> Written:
        """Steps 2–4 inside the caller's transaction (``run`` or the group poster's savepoint):
        claim the key, do the work, record the answer and the audit row. Nothing commits here."""
        if key is not None:
            stored = idempotency.claim(
                session,
                principal=principal_key(self.principal, self.operator),
                key=key,
                operation=operation,
                body=jsonable_encoder(body),
            )
            if stored is not None:
                from ledger.access.audit import outcome_of

                outcome = outcome_of(stored.status_code)  # a job's refusal is kept too
                self._audit(session, outcome, stored.status_code, replayed=True)
                return Written(stored.response, stored.status_code, True)
        return self.answer(
            session, work, operation=operation, key=key, status_code=status_code,
            audit_object=audit_object,
        )  # fmt: skip

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

        record_audit(session, **self.audit_fields(outcome, status, replayed=replayed))

    def audit_fields(
        self, outcome: str, status: int | None, *, replayed: bool = False
    ) -> dict[str, Any]:
        """The arguments of this write's audit-log row (``ledger.access.audit.audit_row``)."""
        detail = dict(self.trail.detail)
        if replayed:
            detail["replayed"] = True
        if self.principal is None:
            detail["operator"] = self.actor
        return {
            "action": self.trail.action,
            "outcome": outcome,
            "principal": self.principal,
            "username": None if self.principal else self.actor,
            "object_type": self.trail.object_type,
            "object_id": self.trail.object_id,
            "request_id": self.trail.request_id,
            "client_addr": self.trail.client_addr,
            "status_code": status,
            "detail": detail,
        }

    def refusal_audit(self, session: Session, exc: Exception) -> None:
        """The refusal's audit row, inside ``session``'s transaction."""
        from ledger.access.audit import outcome_of

        status = exc.status_code if isinstance(exc, DomainError) else 500
        self.trail.detail = {
            **self.trail.detail,
            "error": exc.message if isinstance(exc, DomainError) else type(exc).__name__,
        }
        self._audit(session, outcome_of(status), status)

    def _audit_refusal(self, exc: Exception) -> None:
        try:
            with Session(self.engine) as session:
                self.refusal_audit(session, exc)
                session.commit()
        except Exception:  # the refusal itself stands; its record is lost only with the database
            log.exception("could not record the refusal of %s", self.trail.action)


_DEFERRED = "journal_entry_balanced, journal_entry_reversal_approved"
# The chain head first: posters (one per server process) then never interleave their groups'
# account locks, so they cannot deadlock with one another.
_START_OF_GROUP = text("SELECT 1 FROM chain_head FOR UPDATE; SAVEPOINT group_write")
# After each write of a group: its deferred checks run (so they refuse only it), neither the
# transaction-local source label nor the staging tables (ON COMMIT DROP) it made leak into the
# next write, its savepoint is released and the next write's opened, in one round trip.
_END_OF_WRITE = text(
    f"SET CONSTRAINTS {_DEFERRED} IMMEDIATE; SET CONSTRAINTS {_DEFERRED} DEFERRED; "
    "RESET ledger.source; DISCARD TEMP; RELEASE SAVEPOINT group_write; SAVEPOINT group_write"
)
_UNDO_WRITE = text("ROLLBACK TO SAVEPOINT group_write; RELEASE SAVEPOINT group_write")
_NEXT_WRITE = text("SAVEPOINT group_write")
_DEADLOCK = "40P01"


@dataclass
class _Submission:
    uow: UnitOfWork
    work: Callable[[Session], Any]
    params: dict[str, Any]
    future: Future[Written] = field(default_factory=Future)
    attempts: int = 0
    # The write as ``journal_post_group`` takes it, when it is one entry (prepared by the
    # writer's thread, off the poster's serial path); None: it runs the ordinary way.
    entry_write: dict[str, Any] | None = None


class GroupPoster:
    """Writers hand their unit of work to one poster thread, which commits many per transaction.

    Each write runs in its own savepoint of the group's transaction, so a refusal rolls back only
    that write (its refusal audit row is then written in the same transaction); the others stay.
    Every write's claim, work, answer record and audit row share the group's transaction, and
    nothing is acknowledged before that transaction's COMMIT has returned: a crash before it
    loses the whole group and acknowledges none of it, so a client's retry with its key applies
    the write once. The chain head is locked when a group starts and held to its COMMIT, so
    entries are chained in the order they run, gapless (a rolled-back savepoint rolls back its
    chain step too). A write a deadlock with a writer outside the poster refused runs again in
    the next group. The database enforces every rule as for a single write.
    """

    def __init__(self, engine: Engine, *, max_group: int = 64, start: bool = True) -> None:
        self.engine = engine
        self.max_group = max_group
        self.groups = 0  # groups committed
        self.server_posted = 0  # writes posted by journal_post_group calls, in committed groups
        self._queue: queue.SimpleQueue[_Submission | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name="group-poster", daemon=True)
        if start:
            self.start()

    def start(self) -> None:
        self._thread.start()

    def submit(
        self, uow: UnitOfWork, work: Callable[[Session], Any], **params: Any
    ) -> Future[Written]:
        """Queue a write; its future resolves once the group holding it has committed."""
        sub = _Submission(uow, work, params, entry_write=_entry_write(uow, work, params))
        self._queue.put(sub)
        return sub.future

    def run(self, uow: UnitOfWork, work: Callable[[Session], Any], **params: Any) -> Written:
        return self.submit(uow, work, **params).result()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            group = [first]
            while len(group) < self.max_group:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)
                    break
                group.append(nxt)
            while group:
                group = self._post(group)

    def _post(self, group: list[_Submission]) -> list[_Submission]:
        """Commit one group; return the writes to run again in a group of their own (those
        that a deadlock with a writer outside the poster refused)."""
        outcomes: dict[int, Written | BaseException | None] = {}
        again: list[_Submission] = []
        try:
            with Session(self.engine, expire_on_commit=False) as session:
                # The chain head first: posters (one per server process) then never interleave
                # their groups' account locks, so they cannot deadlock with one another.
                # Each write's savepoint is opened by the statement that ends the one before.
                session.execute(_START_OF_GROUP)
                i = posted_by_server = 0
                while i < len(group):
                    n = _entries_run(group, i)
                    if n:  # writes that are one entry each: the server does them in one call
                        slow = self._post_entries(session, group[i : i + n], outcomes)
                        posted_by_server += n - len(slow)
                        i += n
                    else:
                        slow, i = [group[i]], i + 1
                    for sub in slow:  # one at a time, as the unit of work runs it
                        outcome = self._apply_one(session, sub)
                        if outcome is None:
                            again.append(sub)
                        outcomes[id(sub)] = outcome
                session.commit()
                self.groups += 1
                self.server_posted += posted_by_server
        except BaseException as exc:  # the group's transaction is lost: no write of it stands
            log.exception("a group of %d writes was rolled back", len(group))
            for sub in group:
                sub.future.set_exception(exc)
            return []
        for sub in group:
            outcome = outcomes[id(sub)]
            if outcome is None:
                continue
            if isinstance(outcome, BaseException):
                sub.future.set_exception(outcome)
            else:
                sub.future.set_result(outcome)
        return again

    def _apply_one(self, session: Session, sub: _Submission) -> Written | BaseException | None:
        """One write in its savepoint: its answer, its refusal (audited), or None to run it
        again (a deadlock with a writer outside the poster refused it)."""
        try:
            written = sub.uow.apply(session, sub.work, **sub.params)
            session.execute(_END_OF_WRITE)
            return written
        except Exception as exc:
            session.execute(_UNDO_WRITE)
            outcome: Written | BaseException | None
            if _sqlstate(exc) == _DEADLOCK and sub.attempts < 3:
                sub.attempts += 1
                outcome = None
            else:
                outcome = exc
                if sub.uow.audit_refusals:
                    sub.uow.refusal_audit(session, exc)
            session.execute(_NEXT_WRITE)
            return outcome

    def _post_entries(
        self,
        session: Session,
        run: list[_Submission],
        outcomes: dict[int, Written | BaseException | None],
    ) -> list[_Submission]:
        """Writes that are one journal entry each, in one call of ``journal_post_group``: each
        claims its key, posts, records its answer and its audit row in a subtransaction of its
        own. Returns the writes the server did not post cleanly (a replayed key, a refusal, an
        error), with nothing of them kept: they run again one at a time, answered as always."""
        writes: list[dict[str, Any]] = []
        for sub in run:
            assert sub.entry_write is not None  # ``_entries_run`` took only these
            writes.append(sub.entry_write)
        try:
            rows = session.execute(
                _POST_GROUP, {"w": json.dumps(writes, ensure_ascii=False, default=str)}
            ).all()
            session.execute(_END_OF_WRITE)
        except Exception:  # the call as a whole failed: every write of it runs the ordinary way
            log.exception("journal_post_group failed; its %d writes run one by one", len(run))
            session.execute(_UNDO_WRITE)
            session.execute(_NEXT_WRITE)
            return list(run)
        from ledger.journal.service import PostingWork

        slow = []
        for sub, row, w in zip(run, rows, writes, strict=True):
            if row.outcome != "posted":
                slow.append(sub)
                continue
            outcomes[id(sub)] = Written(PostingWork.answer(w["entry"], row), w["status"], False)
        return slow


_POST_GROUP = text("SELECT * FROM journal_post_group(CAST(:w AS jsonb))")


def _entries_run(group: list[_Submission], start: int) -> int:
    """How many writes from ``start`` on can go to the server in one ``journal_post_group``."""
    n = 0
    for sub in group[start:]:
        if sub.entry_write is None or sub.attempts:
            break
        n += 1
    return n


def _entry_write(
    uow: UnitOfWork, work: Callable[[Session], Any], params: dict[str, Any]
) -> dict[str, Any] | None:
    """The write as ``journal_post_group`` takes it, if it is one entry (a ``PostingWork``)
    with a fixed status and no answer-dependent audit object; else None (and a write that
    ``post_entry`` would refuse before the database is None too: the ordinary path words it)."""
    from ledger.access.audit import audit_row
    from ledger.journal.idempotency import request_hash
    from ledger.journal.service import PostingWork

    status = params.get("status_code", 200)
    if not (
        isinstance(work, PostingWork)
        and isinstance(status, int)
        and params.get("audit_object") is None
    ):
        return None
    try:
        entry = work.server_entry()
    except Exception:
        return None
    operation = params["operation"]
    return {
        "principal": principal_key(uow.principal, uow.operator),
        "key": params.get("key"),
        "operation": operation,
        "request_hash": request_hash(operation, jsonable_encoder(params.get("body"))),
        "status": status,
        "entry": entry,
        "audit": audit_row(**uow.audit_fields("accepted", status)),
    }


def _sqlstate(exc: BaseException) -> str | None:
    orig = getattr(exc, "orig", None)
    return getattr(orig, "sqlstate", None)


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
