"""The job queue: one transaction per job, progress visible while it runs, a failed or dead job
changes nothing, two workers never take the same job."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from ledger.access.audit import record_audit
from ledger.errors import ValidationFailed
from ledger.jobs import service as jobs
from ledger.jobs.service import Progress
from tests.factories import make_user
from tests.reliability.dead_worker import kill_worker_connection

KIND = "test_write_lines"
seen_while_running: list[dict[str, Any]] = []


def write_lines(session: Session, params: dict[str, Any], progress: Progress) -> dict[str, Any]:
    """Writes one audit row per line in the job's transaction; refuses line ``fail_at``."""
    total = params["lines"]
    for line in range(1, total + 1):
        if line == params.get("fail_at"):
            raise ValidationFailed("bad line", [{"line": line, "field": "x", "reason": "bad"}])
        record_audit(session, action=KIND, outcome="accepted", object_id=f"{params['tag']}:{line}")
        progress(line, total)
        if line == total // 2:
            with Session(params["_engine"]) as other:  # what GET /jobs shows meanwhile
                seen_while_running.append(dict(_job(other, params["_job"])))
    return {"lines": total, "tag": params["tag"]}


@pytest.fixture
def kind(monkeypatch: pytest.MonkeyPatch, engine: Engine) -> Iterator[None]:
    def handler(session: Session, params: dict[str, Any], progress: Progress) -> dict[str, Any]:
        return write_lines(
            session, {**params, "_engine": engine, "_job": progress.job_id}, progress
        )

    monkeypatch.setitem(jobs.JOB_KINDS, KIND, handler)
    seen_while_running.clear()
    yield


def _job(session: Session, job_id: int) -> Any:
    return (
        session.execute(text("SELECT * FROM job WHERE id = :id"), {"id": job_id}).mappings().one()
    )


def _written(session: Session, tag: str) -> int:
    session.rollback()
    return int(
        session.execute(
            text("SELECT count(*) FROM audit_log WHERE action = :a AND object_id LIKE :t"),
            {"a": KIND, "t": f"{tag}:%"},
        ).scalar_one()
    )


def _enqueue(session: Session, **params: Any) -> int:
    job_id = jobs.enqueue_job(session, kind=KIND, params=params, created_by="maker")
    session.commit()
    return job_id


def test_a_job_runs_in_one_transaction_and_shows_its_progress(
    session: Session, engine: Engine, kind: None, client: TestClient
) -> None:
    job_id = _enqueue(session, lines=10, tag="ok")
    assert jobs.run_next(engine, progress_interval=0) == (job_id, "succeeded")
    (midway,) = seen_while_running
    assert (midway["state"], midway["lines_done"], midway["lines_total"]) == ("running", 5, 10)
    assert _written(session, "ok") == 10
    row = _job(session, job_id)
    assert (row["state"], row["lines_done"], row["result"]) == (
        "succeeded",
        10,
        {"lines": 10, "tag": "ok"},
    )
    assert jobs.run_next(engine) is None  # the queue is empty


def test_get_job_shows_state_progress_and_result_to_its_owner(
    session: Session, engine: Engine, kind: None, client: TestClient
) -> None:
    owner = make_user(session, "civil_affairs", "440103")
    other = make_user(session, "civil_affairs", "440103")
    job_id = jobs.enqueue_job(
        session, kind=KIND, params={"lines": 3, "tag": "api"}, created_by=owner.username
    )
    session.commit()
    queued = client.get(f"/jobs/{job_id}", headers=owner.headers).json()
    assert (queued["state"], queued["progress"], queued["result"]) == (
        "queued",
        {"done": 0, "total": None},
        None,
    )
    jobs.run_next(engine)
    done = client.get(f"/jobs/{job_id}", headers=owner.headers).json()
    assert (done["state"], done["progress"], done["result"]) == (
        "succeeded",
        {"done": 3, "total": 3},
        {"lines": 3, "tag": "api"},
    )
    assert client.get(f"/jobs/{job_id}", headers=other.headers).status_code == 404
    assert client.get("/jobs/999999", headers=owner.headers).status_code == 404


def test_a_refused_job_is_failed_with_the_error_shape_and_changes_nothing(
    session: Session, engine: Engine, kind: None
) -> None:
    job_id = _enqueue(session, lines=10, tag="bad", fail_at=7)
    assert jobs.run_next(engine, progress_interval=0) == (job_id, "failed")
    assert _written(session, "bad") == 0
    row = _job(session, job_id)
    assert row["state"] == "failed" and row["finished_at"] is not None
    assert row["error"]["status_code"] == 422
    assert row["error"]["error"]["details"] == [{"line": 7, "field": "x", "reason": "bad"}]


def test_a_job_whose_worker_dies_is_failed_and_changes_nothing(
    session: Session, engine: Engine, kind: None
) -> None:
    job_id = _enqueue(session, lines=4, tag="dead")
    connection = engine.connect()
    job = jobs.claim_next(connection, worker="doomed")
    assert job is not None and job.id == job_id
    work = Session(bind=connection)
    record_audit(work, action=KIND, outcome="accepted", object_id="dead:1")
    work.flush()
    assert jobs.reap_dead_jobs(engine) == []  # alive: its lock is held
    kill_worker_connection(engine, connection)  # the worker's process is gone
    assert jobs.reap_dead_jobs(engine) == [job_id]
    assert _written(session, "dead") == 0
    row = _job(session, job_id)
    assert (row["state"], row["error"]["error"]["code"]) == ("failed", "worker_died")
    assert jobs.run_next(engine) is None  # never run again


def test_two_workers_never_take_the_same_job(session: Session, engine: Engine, kind: None) -> None:
    first, second = _enqueue(session, lines=1, tag="a"), _enqueue(session, lines=1, tag="b")
    with engine.connect() as one, engine.connect() as two:
        a = jobs.claim_next(one, worker="one")
        b = jobs.claim_next(two, worker="two")
        assert a is not None and b is not None
        assert {a.id, b.id} == {first, second}
        assert jobs.claim_next(two, worker="two") is None
        jobs.run_claimed(one, engine, a)
        jobs.run_claimed(two, engine, b)
    assert _written(session, "a") == _written(session, "b") == 1


def test_an_unknown_kind_is_refused_when_queued(session: Session) -> None:
    with pytest.raises(ValueError, match="unknown job kind"):
        jobs.enqueue_job(session, kind="nope", params={}, created_by="x")
