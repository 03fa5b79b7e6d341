"""Reports read from a streaming hot standby: the same books give the same bytes as on the
primary, the report records the standby's replay position, and a standby that has not replayed
the primary's chain head is waited for, then refused (503 replica_behind)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import date

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from ledger import db
from ledger.config import get_settings
from ledger.errors import ReplicaBehind
from ledger.jurisdictions.service import seed_reference_data
from ledger.replica import REPLAY_LSN, read_snapshot
from reports import service
from tests.reports.books import allocate
from tests.reports.worked_month import URBAN, worked_month
from tests.scale.cluster import Cluster


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    pair = Cluster()
    try:
        pair.start()
        db.upgrade(pair.primary_url)
        owner = db.make_engine(pair.primary_url, poolclass=NullPool)
        with Session(owner) as s:
            seed_reference_data(session=s)
            worked_month(s)
            s.commit()
        owner.dispose()
        pair.caught_up()
        yield pair
    finally:
        db.dispose_read_engines()
        pair.stop()


@pytest.fixture
def primary(cluster: Cluster) -> Iterator[Engine]:
    engine = db.make_engine(db.app_url(cluster.primary_url))
    yield engine
    engine.dispose()


@pytest.fixture
def use_replica(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("LEDGER_READ_DATABASE_URL", cluster.standby_url)
    get_settings.cache_clear()
    yield
    monkeypatch.delenv("LEDGER_READ_DATABASE_URL")
    monkeypatch.delenv("LEDGER_READ_MAX_WAIT_SECONDS", raising=False)
    get_settings.cache_clear()


def _audit(engine: Engine) -> tuple[bytes, dict[str, object]]:
    with Session(engine) as s:
        built = service.build_audit(s, jurisdiction="440000", period="202406", generated_by="t")
        s.commit()
        record = s.execute(
            text("SELECT parameters, chain_head FROM report_record WHERE id = :id"),
            {"id": built.record_id},
        ).one()
        return built.file.read(), {"parameters": record.parameters, "head": record.chain_head}


def test_a_report_from_the_standby_equals_the_primarys(
    cluster: Cluster, primary: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from_primary, rec_primary = _audit(primary)
    assert "replica_lsn" not in rec_primary["parameters"]  # type: ignore[operator]
    monkeypatch.setenv("LEDGER_READ_DATABASE_URL", cluster.standby_url)
    get_settings.cache_clear()
    try:
        with Session(primary) as s, read_snapshot(s) as snap:
            assert snap.execute(text("SELECT pg_is_in_recovery()")).scalar() is True
        from_standby, rec_standby = _audit(primary)
    finally:
        monkeypatch.delenv("LEDGER_READ_DATABASE_URL")
        get_settings.cache_clear()
    assert from_standby == from_primary
    assert rec_standby["head"] == rec_primary["head"]
    lsn = rec_standby["parameters"]["replica_lsn"]  # type: ignore[index]
    assert isinstance(lsn, str) and "/" in lsn
    # The record of the standby's report was written on the primary.
    with Session(primary) as s:
        kinds = s.execute(text("SELECT count(*) FROM report_record WHERE kind = 'audit'"))
        assert kinds.scalar_one() == 2


def _write_on_primary(cluster: Cluster) -> tuple[int, str, str]:
    """Post an allocation on the primary: its chain head and the WAL position of its commit."""
    owner = db.make_engine(cluster.primary_url, poolclass=NullPool)
    with Session(owner) as s:
        allocate(s, "440000", URBAN, 1_000_00, date(2024, 6, 20))
        s.commit()
        head = s.execute(
            text("SELECT seq, hash, pg_current_wal_lsn()::text AS lsn FROM chain_head")
        ).one()
    owner.dispose()
    return int(head.seq), str(head.hash), str(head.lsn)


@pytest.mark.usefixtures("use_replica")
def test_a_lagging_standby_is_refused_then_waited_for(
    cluster: Cluster, primary: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster.standby_sql("SELECT pg_wal_replay_pause()")
    try:
        seq, head, written = _write_on_primary(cluster)
        monkeypatch.setenv("LEDGER_READ_MAX_WAIT_SECONDS", "0.3")
        get_settings.cache_clear()
        started = time.monotonic()
        with pytest.raises(ReplicaBehind) as refused:
            _audit(primary)
        assert time.monotonic() - started >= 0.3
        body = refused.value.body()["error"]
        assert refused.value.status_code == 503 and body["code"] == "replica_behind"
        assert f"the primary holds entry {seq}" in body["message"]
        assert body["details"][0]["field"] == "replica"
        with Session(primary) as s:  # nothing was recorded for the refused report
            assert s.execute(text("SELECT count(*) FROM report_record")).scalar_one() == 2

        monkeypatch.setenv("LEDGER_READ_MAX_WAIT_SECONDS", "20")
        get_settings.cache_clear()
        resume = threading.Timer(0.5, cluster.standby_sql, ["SELECT pg_wal_replay_resume()"])
        resume.start()
        started = time.monotonic()
        _, record = _audit(primary)
        resume.join()
        assert time.monotonic() - started >= 0.4  # it waited for the replay
    finally:
        cluster.standby_sql("SELECT pg_wal_replay_resume()")
    assert record["head"] == head
    # The recorded replay position covers the allocation's commit, and the standby (which goes
    # on replaying, e.g. the report's own record) is never behind it afterwards.
    recorded = json.loads(json.dumps(record["parameters"]))["replica_lsn"]
    with Session(primary) as s, read_snapshot(s) as snap:
        later = snap.info[REPLAY_LSN]
        covers = snap.execute(
            text(
                "SELECT CAST(:r AS pg_lsn) >= CAST(:w AS pg_lsn), CAST(:l AS pg_lsn) >= CAST(:r AS pg_lsn)"
            ),
            {"r": recorded, "w": written, "l": later},
        ).one()
    assert tuple(covers) == (True, True), (written, recorded, later)


@pytest.mark.usefixtures("use_replica")
def test_the_fund_trace_and_person_files_read_the_standby(
    cluster: Cluster, primary: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The paged trace, its summary and a person file are read on the standby: while its replay
    is paused behind the primary's head they are refused (503 replica_behind); resumed, they
    answer what the primary holds."""
    from fastapi.testclient import TestClient

    from ledger.main import create_app
    from tests.factories import make_user

    with Session(primary) as s:
        auditor = make_user(s, "auditor", "440000")
        person = s.execute(text("SELECT person_key FROM payout ORDER BY id LIMIT 1")).scalar_one()
    cluster.caught_up()
    trace = f"/jurisdictions/440000/trace?fund={URBAN}&period=202406"
    summary = f"/jurisdictions/440000/trace/summary?fund={URBAN}&period=202406"
    monkeypatch.setenv("LEDGER_READ_MAX_WAIT_SECONDS", "0.2")
    get_settings.cache_clear()
    with TestClient(create_app(primary)) as client:
        cluster.standby_sql("SELECT pg_wal_replay_pause()")
        try:
            _write_on_primary(cluster)
            for path in (trace, summary, f"/people/{person}"):
                refused = client.get(path, headers=auditor.headers)
                assert refused.status_code == 503, (path, refused.text)
                assert refused.json()["error"]["code"] == "replica_behind"
        finally:
            cluster.standby_sql("SELECT pg_wal_replay_resume()")
        cluster.caught_up()
        page = client.get(trace, headers=auditor.headers)
        assert page.status_code == 200 and page.json()["items"]
        assert client.get(summary, headers=auditor.headers).json()["batches"]
        read = client.get(f"/people/{person}", headers=auditor.headers)
        assert read.status_code == 200 and read.json()["person_key"] == person
