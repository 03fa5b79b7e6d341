"""The harness's own pieces: the baselines, the posting path it times, the report it writes."""

from __future__ import annotations

import threading

import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from bench import pgraw, posting, report, schema_floor
from bench.common import Figure
from bench.timing import percentile, run_threads
from ledger.journal.verify import verify


def _conninfo(db_url: str) -> str:
    u = make_url(db_url)
    host = u.query.get("host") or u.host
    return f"host={host} port={u.port or u.query.get('port') or 5432} user={u.username} dbname={u.database}"


def test_raw_baselines_write_one_entry_and_two_postings_each(db_url: str) -> None:
    ci = _conninfo(db_url)
    assert pgraw.one_cte(ci, 20, writers=4) > 0
    with psycopg.connect(ci) as conn:
        assert conn.execute("SELECT count(*) FROM raw_entry").fetchone() == (20,)
        assert conn.execute("SELECT count(*) FROM raw_posting").fetchone() == (40,)
    assert pgraw.plain_inserts(ci, 10) > 0
    entries, rows = pgraw.copy_rows(ci, 100)
    assert rows == pytest.approx(3 * entries)
    with psycopg.connect(ci) as conn:
        assert conn.execute("SELECT count(*), sum(amount_fen) FROM raw_posting").fetchone() == (
            200,
            20_000,
        )


def test_timed_posting_keeps_every_invariant(engine: Engine) -> None:
    """Eight threads through the same path the benchmark times: the chain verifies after."""
    sessions = [Session(engine, expire_on_commit=False) for _ in range(8)]

    def work(w: int, count: int) -> None:
        for i in range(count):
            posting.post_one(sessions[w], writer=w, i=i, run="t")

    run_threads(8, 48, work)
    # a replay of one key posts nothing more
    posting.post_one(sessions[0], writer=0, i=0, run="t")
    for s in sessions:
        s.close()
    with Session(engine) as session:
        assert session.execute(text("SELECT count(*) FROM journal_entry")).scalar_one() == 48
        report_ = verify(session)
        assert report_.ok, report_.as_dict()
        # each writer allocated 3 × 2 yuan and sent 3 × 1 yuan down: 24 yuan stay at the province
        kept = session.execute(
            text(
                "SELECT balance_fen FROM account WHERE jurisdiction_code = '440000' "
                "AND fund_code = :f AND kind = 'special_cash'"
            ),
            {"f": posting.FUND},
        ).scalar_one()
        assert kept == 8 * 3 * 200 - 8 * 3 * 100


def test_run_threads_splits_all_items_and_reraises() -> None:
    seen: list[int] = []
    lock = threading.Lock()

    def work(w: int, count: int) -> None:
        with lock:
            seen.append(count)

    run_threads(3, 10, work)
    assert sorted(seen) == [3, 3, 4]
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) in (2.0, 3.0)

    def boom(w: int, count: int) -> None:
        raise ValueError("no")

    try:
        run_threads(2, 2, boom)
    except ValueError:
        pass
    else:
        raise AssertionError("a failing writer must fail the case")


def test_report_states_the_machine_the_table_and_each_target() -> None:
    figs = [
        Figure(
            "P1 service, 1 writer", 100, 300.0, 100.0, "django-hordak transfer_to", "items/s", 80
        ),
        Figure(
            "P1 group posting, 8 writers across cities",
            100,
            300.0,
            100.0,
            "django-hordak transfer_to",
            "items/s",
            80,
        ),
        Figure(
            "P1 group posting, 1 writer",
            100,
            300.0,
            1000.0,
            "raw one-CTE per commit",
            "items/s",
            80,
        ),
        Figure(
            "P6 HTTP p99 at 200 writes/s, group posting",
            1000,
            170.0,
            100.0,
            "target p99 ≤ 100 ms",
            "ms",
            120,
        ),
    ]
    res = {
        "command": "python -m bench all --full",
        "machine": {"nproc": "2", "cpu": "x", "memory": "1 GiB", "kernel": "k", "python": "3.11"},
        "server": {
            "server_version": "18",
            "synchronous_commit": "on",
            "fsync": "on",
            "full_page_writes": "on",
            "wal_sync_method": "fdatasync",
        },
        "floor": {"round_trip_us": 300.0, "durable_insert_us": 900.0},
        "figures": [f.as_dict() for f in figs],
        "baselines": [
            {"name": "raw one-CTE per commit", "n": 100, "rate": 1000.0, "peak_mb": None}
        ],
        "skipped": [{"case": "python-accounting", "reason": "pip failed"}],
        "p6": {"achieved_rate": 196.0},
    }
    md = report.render(res)
    assert "`python -m bench all --full`" in md
    assert "2 CPUs" in md and "synchronous_commit=on" in md and "fsync=on" in md
    assert (
        "| P1 service, 1 writer | 100 | 300/s | django-hordak transfer_to | 100/s | 3.00× | 80 MB |"
        in md
    )
    assert "8 writers across cities ≥ 3× hordak: met (3.00×)" in md
    assert "≥ 0.6× one-CTE: NOT met (0.30×)" in md
    assert "one hot account ≥ 1.5× hordak: not measured" in md
    assert "p99 ≤ 100 ms: NOT met" in md
    assert "≥ 195/s achieved at 200/s offered: met (196/s)" in md
    assert "python-accounting: pip failed" in md
    assert "## Where the time goes" in md


def test_the_schema_floor_copies_the_tables_it_stands_for(db_url: str) -> None:
    """The least-build bench writes into copies that keep the real tables' indexes and fill
    factor, so its floor follows the schema; the release's least records a leaf per line."""
    ci = _conninfo(db_url)
    with psycopg.connect(ci) as conn:
        conn.execute("SELECT ensure_period_partition(%s)", (schema_floor.PERIOD,))
        conn.commit()
        data = schema_floor._inputs(30, "440103")
        parts: dict[str, float] = {}
        assert schema_floor._bare(conn, data, "t") > 0
        schema_floor._shaped(conn, data, "t", parts)
        assert set(parts) == {"payout", "ref", "event", "live"}

        def indexes(table: str) -> int:
            row = conn.execute("SELECT count(*) FROM pg_indexes WHERE tablename = %s", (table,))
            return int(row.fetchone()[0])  # type: ignore[index]

        real = ("payout_p" + schema_floor.PERIOD, "payout_ref", "payout_live")
        for source, copy in zip(
            real, ("floor_payout_t", "floor_ref_t", "floor_live_t"), strict=True
        ):
            assert indexes(copy) == indexes(source) > 0
        options = conn.execute(
            "SELECT reloptions FROM pg_class WHERE relname = 'floor_payout_t'"
        ).fetchone()
        assert options == (["fillfactor=50"],)
        sent = conn.execute(
            "SELECT count(*) FILTER (WHERE to_state = 'sent' AND line_digest ~ '^[0-9a-f]{64}$'), "
            "count(*) FROM floor_event_t"
        ).fetchone()
        assert sent == (30, 60)
        assert conn.execute("SELECT count(*) FROM floor_bare_t").fetchone() == (30,)
