"""Uploads above the job threshold: 202 with the job, the same answer as a direct import once the
worker has run it, replays that follow the job, audit rows written when the work commits, and a
failed job that changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from ledger.config import get_settings
from ledger.jobs import service as jobs
from reconciliation.simulate import write_csv_return
from tests.factories import make_user
from tests.reconciliation.batches import released_batch
from tests.reliability.dead_worker import kill_worker_connection
from tests.roster import helpers as roster


@pytest.fixture
def queued(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every upload larger than 100 bytes is queued."""
    monkeypatch.setenv("LEDGER_JOB_THRESHOLD_BYTES", "100")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _roster_upload(client: TestClient, c: roster.County, data: bytes, key: str) -> Any:
    return client.post(
        f"/counties/{c.code}/roster",
        headers=c.maker.write(key),
        files={"file": ("roster.csv", data)},
        data={"effective_period": roster.PERIOD},
    )


def _audit(session: Session, action: str) -> list[tuple[Any, ...]]:
    session.rollback()
    return [
        tuple(r)
        for r in session.execute(
            text(
                "SELECT outcome, status_code, object_type, request_id IS NOT NULL FROM audit_log "
                "WHERE action = :a ORDER BY id"
            ),
            {"a": action},
        )
    ]


def test_a_large_roster_is_a_job_with_the_direct_answer(
    client: TestClient, session: Session, engine: Engine, queued: None
) -> None:
    c = roster.county(session)
    data = roster.csv_of(roster.rows(c.code, 30))
    first = _roster_upload(client, c, data, "big-roster")
    assert first.status_code == 202, first.text
    job = first.json()
    assert first.headers["Location"] == f"/jobs/{job['id']}"
    assert (job["kind"], job["state"]) == ("roster_import", "queued")
    assert roster.counts(session)["roster_version"] == 0  # nothing yet
    # Stored where any worker reads it, and not in the clear.
    stored = b"".join(
        bytes(part)
        for part in session.execute(
            text("SELECT content FROM job_file WHERE job_id = :id ORDER BY part"),
            {"id": job["id"]},
        ).scalars()
    )
    assert stored and data[:40] not in stored

    replay = _roster_upload(client, c, data, "big-roster")
    assert (replay.status_code, replay.headers["Idempotent-Replayed"]) == (202, "true")
    assert replay.json()["id"] == job["id"]

    assert jobs.run_next(engine, progress_interval=0) == (job["id"], "succeeded")
    done = client.get(job_location := first.headers["Location"], headers=c.maker.headers).json()
    assert done["state"] == "succeeded", job_location
    assert done["progress"] == {"done": 30, "total": 30}
    assert (done["result"]["rows"], done["result"]["joined"]) == (30, 30)
    assert roster.counts(session)["roster_version"] == 30
    assert (
        session.execute(
            text("SELECT content FROM job_file WHERE job_id = :id"), {"id": job["id"]}
        ).scalar_one()
        is None
    )  # the file goes once the job is done

    after = _roster_upload(client, c, data, "big-roster")
    assert (after.status_code, after.json()) == (201, done["result"])
    assert after.headers["Idempotent-Replayed"] == "true"
    # Queued (202, the job), applied (201, the import) and replayed twice: one request id each.
    assert _audit(session, "upload_roster") == [
        ("accepted", 202, "job", True),
        ("accepted", 202, "/counties/{county}/roster", True),
        ("accepted", 201, "register_import", True),
        ("accepted", 201, "/counties/{county}/roster", True),
    ]


def test_a_refused_roster_job_changes_nothing_and_replays_its_refusal(
    client: TestClient, session: Session, engine: Engine, queued: None
) -> None:
    c = roster.county(session)
    data = roster.csv_of(roster.rows(c.code, 20)).replace(roster.BANK.encode(), b"NOBANK", 1)
    job = _roster_upload(client, c, data, "bad-roster").json()
    assert jobs.run_next(engine, progress_interval=0) == (job["id"], "failed")
    failed = client.get(f"/jobs/{job['id']}", headers=c.maker.headers).json()
    assert failed["error"]["status_code"] == 422
    assert failed["error"]["error"]["details"][0]["field"]
    assert roster.counts(session)["roster_version"] == 0
    assert roster.counts(session)["register_import"] == 0
    replay = _roster_upload(client, c, data, "bad-roster")
    assert replay.status_code == 422
    assert replay.json()["error"] == failed["error"]["error"]
    outcomes = [row[:2] for row in _audit(session, "upload_roster")]
    assert outcomes == [("accepted", 202), ("refused", 422), ("refused", 422)]


def test_a_large_return_file_is_a_job_that_settles_the_batch(
    client: TestClient, session: Session, engine: Engine, queued: None
) -> None:
    batch = released_batch(session, n=12)
    bank = make_user(session, "bank", "440000", bank="ICBCGD")
    data = write_csv_return(batch.sim({3: "已销户"}))
    first = client.post("/bank-files", content=data, headers=bank.write("big-file"))
    assert first.status_code == 202, first.text
    job_id = first.json()["id"]
    assert jobs.run_next(engine, progress_interval=0) == (job_id, "succeeded")
    done = client.get(f"/jobs/{job_id}", headers=bank.headers).json()
    assert done["result"]["counts"]["paid"] == 11
    assert done["progress"]["done"] == done["progress"]["total"] == data.count(b"\n") + 1
    replay = client.post("/bank-files", content=data, headers=bank.write("big-file"))
    assert (replay.status_code, replay.json()) == (201, done["result"])
    # The same bytes under a new key: the first import, as a direct upload answers it.
    again = client.post("/bank-files", content=data, headers=bank.write("big-file-2"))
    assert again.status_code == 202
    assert jobs.run_next(engine)[1] == "succeeded"  # type: ignore[index]
    again_done = client.get(f"/jobs/{again.json()['id']}", headers=bank.headers).json()
    assert (
        again_done["result"]["replayed"]
        and again_done["result"]["file_id"] == done["result"]["file_id"]
    )
    assert session.execute(text("SELECT count(*) FROM bank_file")).scalar_one() == 1


def test_a_job_whose_worker_died_is_failed_audited_and_shown_on_replay(
    client: TestClient, session: Session, engine: Engine, queued: None
) -> None:
    batch = released_batch(session, n=4)
    bank = make_user(session, "bank", "440000", bank="ICBCGD")
    data = write_csv_return(batch.sim())
    job_id = client.post("/bank-files", content=data, headers=bank.write("dies")).json()["id"]
    connection = engine.connect()
    assert jobs.claim_next(connection, worker="doomed") is not None
    kill_worker_connection(engine, connection)  # the worker's process is gone
    assert jobs.reap_dead_jobs(engine) == [job_id]
    replay = client.post("/bank-files", content=data, headers=bank.write("dies"))
    assert replay.status_code == 202
    assert replay.json()["state"] == "failed"
    assert replay.json()["error"]["error"]["code"] == "worker_died"
    assert [r[:2] for r in _audit(session, "upload_bank_file")] == [
        ("accepted", 202),
        ("failed", 500),
        ("accepted", 202),
    ]
    assert session.execute(text("SELECT count(*) FROM bank_file")).scalar_one() == 0
