"""Partitions by period on the real schema: before (migrations to 0020, one ``payout`` table) and
after (head, ``payout`` partitioned by period), in two throwaway databases.

``python -m bench partitions [--rows N] [--db ADMIN_URL]``: N payout rows over 12 periods and
124 counties, loaded month by month (the order real batches arrive in) as the owner with the
triggers off (``session_replication_role = replica``: a bulk fill, not a batch build — the
build's cost is ``bench scale``'s); the payout registry is filled alongside. Then, best of 3
warm runs:

1. one county's month: ``count(*), sum(amount_fen) … WHERE period = P AND county_code = C``;
2. a whole month: ``… WHERE period = P``;
3. removing a month: ``ledger periods archive`` (``ledger.journal.archive.archive_period``:
   COPY of the period's rows to a CSV file, the record, the detach) and the detach alone, after,
   against ``DELETE … WHERE period = P`` before (with the append-only triggers off; the live
   table refuses it), followed by the VACUUM the DELETE leaves owing.

Writes ``bench/partitions.json``.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import text
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from bench.scale import _drop, _scratch, _timed
from ledger import db
from ledger.access import service as access

PERIODS = [f"2025{m:02d}" for m in range(1, 13)]
COUNTY = "440103"
FILL = """
INSERT INTO payout (id, batch_id, seq, reference, county_code, fund_code, period, person_key,
    household_id, payee_name, account_name, bank_code, amount_fen, state, account_key,
    account_enc, account_masked, leaf_version, salt)
SELECT {base} + g, {batch0} + g % 124, 1 + g / 124, 'R' || lpad(({base} + g)::text, 10, '0'),
    CASE WHEN g % 124 = 0 THEN '{county}' ELSE '44' || lpad((g % 124)::text, 4, '0') END,
    'urban_minimum_living', '{period}', md5(g::text) || md5((g + 1)::text), 'H' || g,
    '张三' || g, '张三' || g, 'ICBCGD', 30000 + (g * 7919) % 150000, 'paid',
    md5((g + 2)::text) || md5((g + 3)::text), repeat('x', 140), '6222********' || g % 10000, 2,
    md5((g + 4)::text)
FROM generate_series(0::bigint, {n} - 1) g
"""
REGISTRY = (
    "INSERT INTO payout_ref (id, reference, reissue_of, batch_id, seq, period) "
    "SELECT id, reference, NULL, batch_id, seq, period FROM payout WHERE period = '{period}'"
)
QUERIES = {
    "one_county_month": "SELECT count(*), sum(amount_fen) FROM payout "
    f"WHERE period = '202506' AND county_code = '{COUNTY}'",
    "one_month": "SELECT count(*), sum(amount_fen) FROM payout WHERE period = '202506'",
}


def _load(url: str, rows: int, partitioned: bool) -> dict[str, Any]:
    per = rows // len(PERIODS)
    with psycopg.connect(db.libpq_url(url), autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute("SET max_parallel_workers_per_gather = 0")
        t0 = time.perf_counter()
        for i, p in enumerate(PERIODS):
            if partitioned:
                conn.execute("SELECT ensure_period_partition(%s)", (p,))
            conn.execute(FILL.format(base=i * per, batch0=i * 124, county=COUNTY, period=p, n=per))
            if partitioned:
                conn.execute(REGISTRY.format(period=p))
        conn.execute("VACUUM ANALYZE")
        load = time.perf_counter() - t0
        size = conn.execute(
            "SELECT COALESCE((SELECT sum(pg_total_relation_size(relid)) FROM "
            "pg_partition_tree('payout')), pg_total_relation_size('payout'))"
        ).fetchone()[0]  # type: ignore[index]
        out: dict[str, Any] = {"load_seconds": round(load, 1), "payout_bytes": int(size)}
        for name, sql in QUERIES.items():
            plan = [r[0] for r in conn.execute("EXPLAIN (COSTS OFF) " + sql)]
            best = min(_timed(conn, sql) for _ in range(3))
            out[name] = {"plan": plan, "ms": round(best * 1000, 1)}
    return out


def _delete_month(url: str) -> dict[str, Any]:
    with psycopg.connect(db.libpq_url(url), autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        t0 = time.perf_counter()
        deleted = conn.execute("DELETE FROM payout WHERE period = '202501'").rowcount
        delete = time.perf_counter() - t0
        t0 = time.perf_counter()
        conn.execute("VACUUM payout")
        vacuum = time.perf_counter() - t0
    return {"rows": deleted, "delete_seconds": round(delete, 2), "vacuum_seconds": round(vacuum, 2)}


def _archive_month(url: str, out_dir: Path) -> dict[str, Any]:
    with psycopg.connect(db.libpq_url(url), autocommit=True) as conn:
        for p in ("202501", "202502"):
            conn.execute(
                "INSERT INTO fiscal_period_close (period, closed_by) VALUES (%s, 'bench') "
                "ON CONFLICT DO NOTHING",
                (p,),
            )
    from ledger.journal.archive import archive_period, request_archive
    from ledger.jurisdictions.service import seed_reference_data

    engine = db.make_engine(url, poolclass=NullPool)
    with Session(engine) as session:
        seed_reference_data(session=session)
        bureau = access.create_bureau(session, jurisdiction="440000", kind="admin", name="bench")
        for u in ("bench-asker", "bench-admin"):
            access.create_user(session, username=u, display_name=u, bureau_id=bureau, role="admin")
        asker = access.principal_of(session, "bench-asker")
        admin = access.principal_of(session, "bench-admin")
        request_archive(session, period="202501", reason="bench", principal=asker)
        session.commit()
        t0 = time.perf_counter()
        done = archive_period(session, period="202501", out_dir=out_dir, principal=admin)
        session.commit()
        archive = time.perf_counter() - t0
        # The detach alone, for a second month: its record written by hand.
        n = session.execute(text("SELECT count(*) FROM payout WHERE period = '202502'")).scalar()
        session.execute(
            text(
                "INSERT INTO period_archive_request (period, bureau_id, requested_by, reason) "
                "VALUES ('202502', :b, :u, 'bench')"
            ),
            {"b": bureau, "u": asker.user_id},
        )
        session.execute(
            text(
                "INSERT INTO period_archive (period, request_id, approved_by, archived_by, "
                "payout_count, event_count, files, batches, totals, kept_as) SELECT '202502', "
                "max(id), :u, 'bench', :n, 0, '[]', '[]', '[]', 'bench' FROM "
                "period_archive_request WHERE period = '202502'"
            ),
            {"n": n, "u": admin.user_id},
        )
        t0 = time.perf_counter()
        session.execute(text("SELECT archive_period_partitions('202502')"))
        session.commit()
        detach = time.perf_counter() - t0
    engine.dispose()
    return {
        "rows": done.payout_count,
        "archive_seconds": round(archive, 2),
        "file_bytes": sum((out_dir / f.name).stat().st_size for f in done.files),
        "detach_only_seconds": round(detach, 3),
    }


def main(rows: int, admin_url: str | None) -> dict[str, Any]:
    base = admin_url or db.embedded_url(db.ROOT / "var")
    from sqlalchemy.engine import make_url

    admin = make_url(base).set(database="postgres").render_as_string(hide_password=False)
    result: dict[str, Any] = {"rows": rows, "periods": len(PERIODS), "counties": 124}
    for label, revision, partitioned in (
        ("before", "0020_notice", False),
        ("after", "heads", True),
    ):
        name = f"ledger_parts_{label}_{os.getpid()}"
        url = _scratch(admin, name)
        try:
            db.upgrade(url, revision)
            result[label] = _load(url, rows, partitioned)
            if partitioned:
                with tempfile.TemporaryDirectory() as tmp:
                    result[label]["remove_month"] = _archive_month(url, Path(tmp))
            else:
                result[label]["remove_month"] = _delete_month(url)
        finally:
            _drop(admin, name)
        print(json.dumps({label: result[label]}, indent=2, ensure_ascii=False))
    out = db.ROOT / "bench" / "partitions.json"
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    return result
