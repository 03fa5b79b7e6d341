"""A job queue in PostgreSQL: enqueue in the caller's transaction, run by a worker in one.

A worker claims the oldest queued job with ``FOR UPDATE SKIP LOCKED`` and, in the same
transaction, takes a session advisory lock on its id that it holds until the job is finished.
The job's work and its ``succeeded`` row commit together in one transaction on that connection,
so a job either applied everything and says so, or applied nothing. A worker that dies drops
its connection: its transaction rolls back, its lock is freed, and ``reap_dead_jobs`` marks the
job failed. Progress is written on other connections, so it can be read while the job runs.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, text
from sqlalchemy.orm import Session

from ledger.access.service import Principal
from ledger.errors import DomainError, NotFound
from ledger.filebytes import ByteSource
from ledger.jobs.models import JobProgress, JobPublic
from ledger.pii import decrypt_bytes, encrypt_bytes
from ledger.uow import UnitOfWork

log = logging.getLogger("ledger.jobs")

# pg_advisory_lock(namespace, job id): the namespace keeps job locks apart from other locks.
LOCK_NAMESPACE = 0x4A4F42


class Progress:
    """``progress(done, total)`` from inside a job: written at most every ``interval`` seconds
    (and by ``flush``), each time in its own short transaction on another connection."""

    def __init__(self, engine: Engine, job_id: int, *, interval: float = 0.5) -> None:
        self.engine = engine
        self.job_id = job_id
        self.interval = interval
        self.done = 0
        self.total: int | None = None
        self._written_at = 0.0

    def __call__(self, done: int, total: int | None = None) -> None:
        self.done = done
        if total is not None:
            self.total = total
        if time.monotonic() - self._written_at >= self.interval:
            self.flush()

    def flush(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                text(
                    "UPDATE job SET lines_done = :d, lines_total = COALESCE(:t, lines_total), "
                    "updated_at = now() WHERE id = :id AND state = 'running'"
                ),
                {"d": self.done, "t": self.total, "id": self.job_id},
            )
        self._written_at = time.monotonic()


# A queued file is stored encrypted in parts of this size: no single call on it is long.
FILE_PART_BYTES = 1024 * 1024

# A job kind: the work, given the job's own session (never committed by the handler), its
# params and its progress; returns the result a caller would have had from a direct run.
JobHandler = Callable[[Session, dict[str, Any], Progress], dict[str, Any]]
JOB_KINDS: dict[str, JobHandler] = {}


def job_kind(name: str) -> Callable[[JobHandler], JobHandler]:
    """Register a job kind: ``@job_kind("roster_import") def run(session, params, progress)``."""

    def register(handler: JobHandler) -> JobHandler:
        JOB_KINDS[name] = handler
        return handler

    return register


def enqueue_job(session: Session, *, kind: str, params: dict[str, Any], created_by: str) -> int:
    """Queue a job in the caller's transaction (the caller commits); returns its id."""
    if kind not in JOB_KINDS:
        raise ValueError(f"unknown job kind {kind!r}")
    return int(
        session.execute(
            text(
                "INSERT INTO job (kind, params, created_by) VALUES (:k, CAST(:p AS jsonb), :by) "
                "RETURNING id"
            ),
            {"k": kind, "p": json.dumps(params, ensure_ascii=False), "by": created_by},
        ).scalar_one()
    )


def queue_file_job(
    session: Session,
    *,
    kind: str,
    data: bytes | ByteSource,
    filename: str,
    params: dict[str, Any],
    created_by: str,
    request: dict[str, Any] | None = None,
) -> int:
    """Queue an import of ``data``: the job and its file (encrypted, in parts, read one part at
    a time) in the caller's transaction. ``request`` (from ``queued_request``) is the HTTP
    request the job answers."""
    source = ByteSource.of(data)
    job_id = enqueue_job(
        session,
        kind=kind,
        params={
            **params,
            "file": {"name": filename, "sha256": source.sha256, "bytes": source.size},
            **({"request": request} if request else {}),
        },
        created_by=created_by,
    )
    insert = text("INSERT INTO job_file (job_id, part, content) VALUES (:id, :n, :c)")
    n = -1
    for n, piece in enumerate(source.pieces(FILE_PART_BYTES)):
        session.execute(insert, {"id": job_id, "n": n, "c": encrypt_bytes(piece)})
    if n < 0:
        session.execute(insert, {"id": job_id, "n": 0, "c": encrypt_bytes(b"")})
    return job_id


def _job_file_parts(session: Session, job_id: int) -> Iterator[bytes]:
    """The parts of a job's file, decrypted, fetched one at a time."""
    n = 0
    while True:
        part = session.execute(
            text("SELECT content FROM job_file WHERE job_id = :id AND part = :n"),
            {"id": job_id, "n": n},
        ).first()
        if part is None or part.content is None:
            if n == 0:
                raise LookupError(f"job {job_id} has no file (or it was already dropped)")
            return
        yield decrypt_bytes(bytes(part.content))
        n += 1


def job_file(session: Session, job_id: int) -> bytes:
    """The file a job imports, as uploaded."""
    return b"".join(_job_file_parts(session, job_id))


def job_file_source(session: Session, job_id: int) -> ByteSource:
    """The file a job imports, spooled part by part (never whole in memory); close it after."""
    return ByteSource.spooled(_job_file_parts(session, job_id))


def queued_request(uow: UnitOfWork, *, operation: str, key: str | None) -> dict[str, Any]:
    """What a job needs to answer the request that queued it: who, the audit trail, the key."""
    return {"uow": uow.describe(), "operation": operation, "key": key}


def answer_request(
    session: Session,
    params: dict[str, Any],
    progress: Progress,
    work: Callable[[Session], Any],
    *,
    status_code: int | Callable[[dict[str, Any]], int] = 200,
    audit_object: Callable[[dict[str, Any]], tuple[str, Any]] | None = None,
) -> dict[str, Any]:
    """Run a job's work as the unit of work of the request that queued it: the answer goes
    under the request's idempotency key and the accepted audit row is written, both in the
    job's transaction, so they commit with the work or not at all."""
    request = params.get("request")
    if request is None:
        answer: dict[str, Any] = work(session)
        return answer
    uow = UnitOfWork.described(progress.engine, request["uow"])
    return uow.answer(
        session,
        work,
        operation=request["operation"],
        key=request["key"],
        status_code=status_code,
        audit_object=audit_object,
    ).body


def _refuse_request(
    session: Session, engine: Engine, params: dict[str, Any], exc: Exception
) -> None:
    request = params.get("request")
    if request is not None:
        uow = UnitOfWork.described(engine, request["uow"])
        uow.record_refusal(session, exc, operation=request["operation"], key=request["key"])


def get_job(session: Session, *, job_id: int, principal: Principal) -> JobPublic:
    """A job, for the user who queued it (or an admin); anyone else is told it does not exist."""
    row = (
        session.execute(text("SELECT * FROM job WHERE id = :id"), {"id": job_id}).mappings().first()
    )
    if row is None or (row["created_by"] != principal.username and principal.role != "admin"):
        raise NotFound(f"job {job_id} not found")
    return JobPublic(
        id=row["id"],
        kind=row["kind"],
        state=row["state"],
        progress=JobProgress(done=row["lines_done"], total=row["lines_total"]),
        result=row["result"],
        error=row["error"],
        created_by=row["created_by"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
    )


@dataclass(frozen=True)
class ClaimedJob:
    id: int
    kind: str
    params: dict[str, Any]


def default_worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def claim_next(connection: Connection, *, worker: str) -> ClaimedJob | None:
    """Take the oldest queued job and its advisory lock (held by ``connection`` until
    ``release``); commits the claim so the job shows as running."""
    row = connection.execute(
        text(
            "UPDATE job SET state = 'running', started_at = now(), updated_at = now(), "
            "attempts = attempts + 1, worker = :w WHERE id = (SELECT id FROM job "
            "WHERE state = 'queued' ORDER BY id FOR UPDATE SKIP LOCKED LIMIT 1) "
            "RETURNING id, kind, params"
        ),
        {"w": worker},
    ).first()
    if row is not None:
        connection.execute(
            text("SELECT pg_advisory_lock(:ns, CAST(:id AS integer))"),
            {"ns": LOCK_NAMESPACE, "id": row.id},
        )
    connection.commit()
    return ClaimedJob(row.id, row.kind, row.params) if row is not None else None


def _error_body(exc: Exception) -> dict[str, Any]:
    if isinstance(exc, DomainError):
        return {**exc.body(), "status_code": exc.status_code}
    return {
        "error": {"code": "job_failed", "message": f"{type(exc).__name__}: {exc}", "details": []},
        "status_code": 500,
    }


def _finish(connection: Connection, job_id: int, *, result: Any = None, error: Any = None) -> None:
    # The file is needed no longer: its ciphertext goes with the transaction that finishes it.
    connection.execute(
        text("UPDATE job_file SET content = NULL WHERE job_id = :id"), {"id": job_id}
    )
    connection.execute(
        text(
            "UPDATE job SET state = :s, result = CAST(:r AS jsonb), error = CAST(:e AS jsonb), "
            "finished_at = now(), updated_at = now() WHERE id = :id AND state = 'running'"
        ),
        {
            "s": "succeeded" if error is None else "failed",
            "r": None if result is None else json.dumps(result, ensure_ascii=False, default=str),
            "e": None if error is None else json.dumps(error, ensure_ascii=False, default=str),
            "id": job_id,
        },
    )


def run_claimed(
    connection: Connection, engine: Engine, job: ClaimedJob, *, progress_interval: float = 0.5
) -> str:
    """Run a claimed job in one transaction on ``connection``; returns its final state."""
    progress = Progress(engine, job.id, interval=progress_interval)
    try:
        session = Session(bind=connection, expire_on_commit=False)
        try:
            handler = JOB_KINDS.get(job.kind)
            if handler is None:
                raise LookupError(f"no handler for job kind {job.kind!r} in this worker")
            result = handler(session, job.params, progress)
            progress.flush()
            _finish(session.connection(), job.id, result=result)
            session.commit()
            return "succeeded"
        except Exception as exc:
            session.rollback()
            log.warning("job %s (%s) failed: %s", job.id, job.kind, exc)
            _refuse_request(session, engine, job.params, exc)
            _finish(session.connection(), job.id, error=_error_body(exc))
            session.commit()
            return "failed"
        finally:
            session.close()
    finally:
        release(connection, job.id)


def release(connection: Connection, job_id: int) -> None:
    try:
        connection.execute(
            text("SELECT pg_advisory_unlock(:ns, CAST(:id AS integer))"),
            {"ns": LOCK_NAMESPACE, "id": job_id},
        )
        connection.commit()
    except Exception:
        connection.invalidate()  # closing the connection frees the lock too


def reap_dead_jobs(engine: Engine) -> list[int]:
    """Mark failed every running job whose worker is gone (its advisory lock is free)."""
    dead = []
    with Session(engine) as session:
        running = session.execute(
            text(
                "SELECT id, params FROM job WHERE state = 'running' ORDER BY id "
                "FOR UPDATE SKIP LOCKED"
            )
        ).all()
        for job_id, params in running:
            free = session.execute(
                text("SELECT pg_try_advisory_xact_lock(:ns, CAST(:id AS integer))"),
                {"ns": LOCK_NAMESPACE, "id": job_id},
            ).scalar_one()
            if free:
                error = {
                    "error": {
                        "code": "worker_died",
                        "message": "the worker running this job stopped; nothing was applied",
                        "details": [],
                    },
                    "status_code": 500,
                }
                _refuse_request(session, engine, params, RuntimeError("worker died"))
                _finish(session.connection(), job_id, error=error)
                dead.append(job_id)
        session.commit()
    return dead


def run_next(
    engine: Engine, *, worker: str | None = None, progress_interval: float = 0.5
) -> tuple[int, str] | None:
    """Reap dead jobs, then run the oldest queued one: (id, final state), or None if idle."""
    reap_dead_jobs(engine)
    with engine.connect() as connection:
        job = claim_next(connection, worker=worker or default_worker_name())
        if job is None:
            return None
        return job.id, run_claimed(connection, engine, job, progress_interval=progress_interval)


def run_worker(
    engine: Engine,
    *,
    poll_seconds: float = 1.0,
    stop: threading.Event | None = None,
    on_done: Callable[[int, str], None] | None = None,
) -> None:
    """Run jobs until ``stop`` is set, sleeping ``poll_seconds`` whenever the queue is empty."""
    stop = stop or threading.Event()
    worker = default_worker_name()
    while not stop.is_set():
        try:
            done = run_next(engine, worker=worker)
        except Exception:  # the database went away: the queue is still there when it is back
            log.exception("the worker could not take a job; trying again")
            done = None
        if done is None:
            stop.wait(poll_seconds)
        elif on_done is not None:
            on_done(*done)
