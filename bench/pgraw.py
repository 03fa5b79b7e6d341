"""The PostgreSQL limit: the same entry (one row) and two postings on bare tables, no rules.

Each writer has its own connection; every entry is its own transaction unless it is COPY.
"""

from __future__ import annotations

import time

import psycopg

from bench.timing import run_threads

SCHEMA = """
DROP TABLE IF EXISTS raw_posting, raw_entry;
CREATE TABLE raw_entry (
    id bigserial PRIMARY KEY, kind text NOT NULL, memo text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE raw_posting (
    id bigserial PRIMARY KEY, entry_id bigint NOT NULL REFERENCES raw_entry (id),
    account_id integer NOT NULL, side char(1) NOT NULL, amount_fen bigint NOT NULL);
CREATE INDEX ON raw_posting (entry_id);
"""

CTE = (
    "WITH e AS (INSERT INTO raw_entry (kind, memo) VALUES ('allocation', %s) RETURNING id) "
    "INSERT INTO raw_posting (entry_id, account_id, side, amount_fen) "
    "SELECT e.id, v.a, v.s, v.m FROM e, (VALUES (1, 'D', %s::bigint), (2, 'C', %s::bigint)) "
    "AS v(a, s, m)"
)


def _reset(conninfo: str) -> None:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(SCHEMA)


def plain_inserts(conninfo: str, n: int, writers: int = 1) -> float:
    """Entries per second: INSERT entry RETURNING id, INSERT two postings, COMMIT."""
    _reset(conninfo)
    conns = [psycopg.connect(conninfo) for _ in range(writers)]

    def work(w: int, count: int) -> None:
        conn = conns[w]
        for i in range(count):
            with conn.cursor() as cur:
                cur.execute(
                    "INSERT INTO raw_entry (kind, memo) VALUES ('allocation', %s) RETURNING id",
                    (f"w{w}-{i}",),
                )
                eid = cur.fetchone()[0]  # type: ignore[index]
                cur.execute(
                    "INSERT INTO raw_posting (entry_id, account_id, side, amount_fen) "
                    "VALUES (%s, 1, 'D', 100), (%s, 2, 'C', 100)",
                    (eid, eid),
                )
            conn.commit()

    try:
        return n / run_threads(writers, n, work)
    finally:
        for c in conns:
            c.close()


def one_cte(conninfo: str, n: int, writers: int = 1) -> float:
    """Entries per second: one statement (a writable CTE) per entry, autocommit."""
    _reset(conninfo)
    conns = [psycopg.connect(conninfo, autocommit=True) for _ in range(writers)]

    def work(w: int, count: int) -> None:
        conn = conns[w]
        for i in range(count):
            conn.execute(CTE, (f"w{w}-{i}", 100, 100))

    try:
        return n / run_threads(writers, n, work)
    finally:
        for c in conns:
            c.close()


def copy_rows(conninfo: str, n: int) -> tuple[float, float]:
    """(entries/s, rows/s) for COPY of ``n`` entries and their 2n postings in one transaction."""
    _reset(conninfo)
    with psycopg.connect(conninfo) as conn:
        start = time.perf_counter()
        with conn.cursor() as cur:
            with cur.copy("COPY raw_entry (id, kind, memo) FROM STDIN") as cp:
                for i in range(1, n + 1):
                    cp.write_row((i, "allocation", f"copy-{i}"))
            with cur.copy(
                "COPY raw_posting (entry_id, account_id, side, amount_fen) FROM STDIN"
            ) as cp:
                for i in range(1, n + 1):
                    cp.write_row((i, 1, "D", 100))
                    cp.write_row((i, 2, "C", 100))
        conn.commit()
        elapsed = time.perf_counter() - start
    return n / elapsed, 3 * n / elapsed
