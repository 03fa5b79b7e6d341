"""The least a batch build and release can write with this schema's rows, against P2's baseline.

    python -m bench.schema_floor [--n 100000] [--rounds 2] [--url postgresql+psycopg://...]

P2's target compares a build and release with a COPY of the pre-built payout rows into a bare
table. A build that keeps the rules this ledger's database enforces writes more than that row:
the registry row of its global keys (``payout_ref``), the payout's creation event
(``payout_event``, its append-only history) and its row in ``payout_live`` (one live payout per
person, fund and period), and each table carries the indexes its rules and readers need. This
bench measures that least, with nothing checked and no trigger fired:

* **bare** — the payout rows COPYed into a table of their columns and nothing else (the P2
  baseline of ``bench.batch_release``);
* **shaped** — the same rows COPYed into a copy of a payout partition (``LIKE … INCLUDING
  ALL``: its indexes, defaults and checks, and the partition's fill factor), and the three
  rows written with each line COPYed into copies of ``payout_ref``, ``payout_event`` and
  ``payout_live``, in one transaction;
* **release** — on the shaped copy, what a release must write: every line's state set and one
  event per line carrying its leaf hash, computed in SQL (``ledger.payouts.leaf_sha256_sql``).

Every input is built before the clock starts; the variants run alternately, bare and shaped
first in odd rounds, shaped first in even ones. Prints one JSON line per round: seconds, and
each variant against bare.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import time
from collections.abc import Iterable
from typing import Any

import psycopg

from bench import server
from bench.batch_release import _copy_text, _payout_rows
from ledger import db
from ledger.payouts import leaf_sha256_sql

PERIOD = "202401"
FUND = "urban_minimum_living"
_PAYOUT = (
    "batch_id, seq, reference, county_code, fund_code, period, person_key, household_id, "
    "household_size, township, village, payee_name, account_key, account_enc, account_masked, "
    "account_name, bank_code, amount_fen"
)


def _copy_bytes(rows: Iterable[tuple[Any, ...]]) -> bytes:
    out = io.StringIO()
    for row in rows:
        out.write("\t".join(_copy_text(v) for v in row) + "\n")
    return out.getvalue().encode()


def _inputs(n: int, county: str) -> dict[str, bytes]:
    """The COPY text of every row set, built once before any clock."""
    run = os.urandom(8).hex()
    payouts = list(_payout_rows(run, n, county, PERIOD))
    return {
        "bare": _copy_bytes(payouts),
        "payout": _copy_bytes((i + 1, *row) for i, row in enumerate(payouts)),
        "ref": _copy_bytes(
            (i + 1, row[2], None, 1, row[1], PERIOD) for i, row in enumerate(payouts)
        ),
        "event": _copy_bytes(
            (i + 1, i + 1, PERIOD, None, "draft", "batch_build") for i in range(n)
        ),
        "live": _copy_bytes((row[6], FUND, PERIOD, i + 1) for i, row in enumerate(payouts)),
    }


def _copy(cur: psycopg.Cursor[Any], table: str, columns: str, data: bytes) -> None:
    with cur.copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT text)") as copy:
        for start in range(0, len(data), 1 << 20):
            copy.write(data[start : start + (1 << 20)])


def _bare(conn: psycopg.Connection[Any], data: dict[str, bytes], tag: str) -> float:
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE floor_bare_{tag} AS SELECT {_PAYOUT} FROM payout WITH NO DATA")
        conn.commit()
        t0 = time.perf_counter()
        _copy(cur, f"floor_bare_{tag}", _PAYOUT, data["bare"])
        conn.commit()
        return time.perf_counter() - t0


def _shaped(
    conn: psycopg.Connection[Any], data: dict[str, bytes], tag: str, parts: dict[str, float]
) -> tuple[float, float]:
    """Seconds of the shaped build, then of the release's least on it; ``parts``: each table's
    COPY inside the build."""
    partition = f"payout_p{PERIOD}"
    with conn.cursor() as cur:
        (options,) = cur.execute(
            "SELECT reloptions FROM pg_class WHERE relname = %s", (partition,)
        ).fetchone() or (None,)
        storage = f" WITH ({', '.join(options)})" if options else ""
        cur.execute(
            f"CREATE TABLE floor_payout_{tag} (LIKE {partition} INCLUDING ALL){storage};"
            f"CREATE TABLE floor_ref_{tag} (LIKE payout_ref INCLUDING ALL);"
            f"CREATE TABLE floor_event_{tag} (LIKE payout_event_p{PERIOD} INCLUDING ALL);"
            f"CREATE TABLE floor_live_{tag} (LIKE payout_live INCLUDING ALL);"
        )
        conn.commit()
        t0 = time.perf_counter()
        for table, columns, rows in (
            ("payout", f"id, {_PAYOUT}", "payout"),
            ("ref", "id, reference, reissue_of, batch_id, seq, period", "ref"),
            ("event", "id, payout_id, period, from_state, to_state, source", "event"),
            ("live", "person_key, fund_code, period, payout_id", "live"),
        ):
            t1 = time.perf_counter()
            _copy(cur, f"floor_{table}_{tag}", columns, data[rows])
            parts[table] = round(time.perf_counter() - t1, 3)
        conn.commit()
        built = time.perf_counter() - t0
        t0 = time.perf_counter()
        cur.execute(
            f"UPDATE floor_payout_{tag} SET state = 'sent', last_entry_id = 1, updated_at = now()"
        )
        n = int(cur.execute(f"SELECT count(*) FROM floor_payout_{tag}").fetchone()[0])  # type: ignore[index]
        cur.execute(
            f"INSERT INTO floor_event_{tag} (id, payout_id, period, from_state, to_state, "
            f"entry_id, source, line_digest) SELECT {n} + p.id, p.id, p.period, 'draft', 'sent', "
            f"1, 'batch_release', encode({leaf_sha256_sql('p')}, 'hex') FROM floor_payout_{tag} p"
        )
        conn.commit()
        return built, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.schema_floor")
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--url", default=None, help="default: a fresh database of the bench server")
    args = parser.parse_args()
    if args.url:
        url = args.url
    else:
        srv = server.start()
        srv.fresh_database("schema_floor")
        url = srv.url("schema_floor")
    db.upgrade(url)
    conninfo = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo) as conn:
        conn.execute("SELECT ensure_period_partition(%s)", (PERIOD,))
        (county,) = conn.execute(
            "SELECT code FROM jurisdiction WHERE level = 3 ORDER BY code LIMIT 1"
        ).fetchone() or ("440103",)
        conn.commit()
        data = _inputs(args.n, county)
        for rnd in range(1, args.rounds + 1):
            tag = f"{rnd}_{os.urandom(3).hex()}"
            parts: dict[str, float] = {}
            if rnd % 2:
                bare = _bare(conn, data, tag)
                shaped, release = _shaped(conn, data, tag, parts)
            else:
                shaped, release = _shaped(conn, data, tag, parts)
                bare = _bare(conn, data, tag)
            print(
                json.dumps(
                    {
                        "round": rnd,
                        "n": args.n,
                        "bare": round(bare, 3),
                        "shaped_build": round(shaped, 3),
                        "release_least": round(release, 3),
                        "shaped_build_vs_bare": round(shaped / bare, 1),
                        "build_and_release_least_vs_bare": round((shaped + release) / bare, 1),
                        "shaped_build_by_table": parts,
                    }
                ),
                flush=True,
            )
            for t in ("bare", "payout", "ref", "event", "live"):
                conn.execute(f"DROP TABLE IF EXISTS floor_{t}_{tag}")
            conn.commit()


if __name__ == "__main__":
    main()
