"""Figures for docs/scaling.md, measured on a throwaway database (never through migrations of
the books: the scratch tables live in their own database, dropped at the end).

``python -m bench scale [--payouts N] [--rows M] [--db ADMIN_URL]``:

1. rows and bytes per payout: one county's batch of N payouts built and released through the
   service path (``bench.batch_release``), then every table's row count and
   ``pg_total_relation_size`` (heap, TOAST and indexes) divided by N;
2. partition pruning: M payout-like rows over 24 periods, once in a plain table and once in a
   table partitioned by period (LIST, one partition per month); the EXPLAIN of a one-period
   query on each and its best-of-3 time.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import psycopg
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from bench.batch_release import BANK, FUND, _setup
from ledger import db
from ledger.batches.service import build_batch, release_batch

PERIODS = [f"{y}{m:02d}" for y in (2023, 2024) for m in range(1, 13)]
QUERY = "SELECT count(*), sum(amount_fen) FROM {t} WHERE period = '202406'"


def _scratch(admin_url: str, name: str) -> str:
    with psycopg.connect(db.libpq_url(admin_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def _drop(admin_url: str, name: str) -> None:
    with psycopg.connect(db.libpq_url(admin_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def per_payout(admin_url: str, n: int) -> dict[str, Any]:
    name = f"ledger_scale_{os.getpid()}"
    url = _scratch(admin_url, name)
    try:
        db.upgrade(url)
        engine = db.make_engine(url, poolclass=NullPool)
        with Session(engine) as session:
            county = _setup(session, os.urandom(8).hex(), n)
            before = _tables(url)
            t0 = time.perf_counter()
            built = build_batch(session, county=county, fund=FUND, period="202401",
                                bank_code=BANK, created_by="bench-maker")  # fmt: skip
            released = release_batch(session, batch_id=built["id"], released_by="bench-checker")
            session.commit()
            seconds = time.perf_counter() - t0
            assert released["line_count"] == n, released
        engine.dispose()
        with psycopg.connect(db.libpq_url(url), autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
        after = _tables(url)
    finally:
        _drop(admin_url, name)
    grown = {
        t: {"rows": after[t][0] - before.get(t, (0, 0))[0],
            "bytes": after[t][1] - before.get(t, (0, 0))[1]}
        for t in after
        if after[t][0] != before.get(t, (0, 0))[0]
    }  # fmt: skip
    return {"payouts": n, "build_release_seconds": round(seconds, 1), "tables": grown}


def _tables(url: str) -> dict[str, tuple[int, int]]:
    with psycopg.connect(db.libpq_url(url)) as conn:
        names = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")]  # fmt: skip
        out = {}
        for t in names:
            rows = conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]  # type: ignore[index]
            size = conn.execute("SELECT pg_total_relation_size(%s)", (t,)).fetchone()[0]  # type: ignore[index]
            out[t] = (int(rows), int(size))
        return out


def pruning(admin_url: str, rows: int) -> dict[str, Any]:
    name = f"ledger_scale_parts_{os.getpid()}"
    url = _scratch(admin_url, name)
    cols = ("id bigint NOT NULL, period char(6) NOT NULL, county_code char(6) NOT NULL, "
            "person_key char(64) NOT NULL, amount_fen bigint NOT NULL, status text NOT NULL")  # fmt: skip
    fill = (
        "INSERT INTO {t} SELECT g, (ARRAY[{periods}])[1 + g % 24], "
        "'4401' || lpad((g % 124)::text, 2, '0'), md5(g::text) || md5((g + 1)::text), "
        "30000 + (g * 7919) % 150000, 'paid' FROM generate_series(1::bigint, {n}) g"
    )
    periods = ", ".join(f"'{p}'" for p in PERIODS)
    out: dict[str, Any] = {"rows": rows, "periods": len(PERIODS)}
    try:
        with psycopg.connect(db.libpq_url(url), autocommit=True) as conn:
            conn.execute("SET max_parallel_workers_per_gather = 0")
            conn.execute(f"CREATE TABLE plain_payout ({cols})")
            conn.execute(f"CREATE TABLE part_payout ({cols}) PARTITION BY LIST (period)")
            for p in PERIODS:
                conn.execute(f"CREATE TABLE part_payout_{p} PARTITION OF part_payout "
                             f"FOR VALUES IN ('{p}')")  # fmt: skip
            for t in ("plain_payout", "part_payout"):
                t0 = time.perf_counter()
                conn.execute(fill.format(t=t, periods=periods, n=rows))
                conn.execute(f"CREATE INDEX ON {t} (period, county_code)")
                conn.execute(f"VACUUM ANALYZE {t}")
                size = conn.execute(
                    "SELECT COALESCE((SELECT sum(pg_total_relation_size(relid)) FROM "
                    "pg_partition_tree(%s)), pg_total_relation_size(%s))",
                    (t, t),
                ).fetchone()[0]  # type: ignore[index]
                plan = [r[0] for r in conn.execute("EXPLAIN (COSTS OFF) " + QUERY.format(t=t))]
                best = min(_timed(conn, QUERY.format(t=t)) for _ in range(3))
                out[t] = {
                    "load_seconds": round(time.perf_counter() - t0, 1),
                    "bytes": int(size),
                    "plan": plan,
                    "one_period_ms": round(best * 1000, 1),
                }
    finally:
        _drop(admin_url, name)
    return out


def _timed(conn: psycopg.Connection[Any], sql: str) -> float:
    t0 = time.perf_counter()
    conn.execute(sql).fetchall()
    return time.perf_counter() - t0


def main(payouts: int, rows: int, admin_url: str | None) -> dict[str, Any]:
    base = admin_url or db.embedded_url(db.ROOT / "var")
    admin = make_url(base).set(database="postgres").render_as_string(hide_password=False)
    out = db.ROOT / "bench" / "scale.json"
    result: dict[str, Any] = {"per_payout": per_payout(admin, payouts)}
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    result["pruning"] = pruning(admin, rows)
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return result
