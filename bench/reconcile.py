"""Reconcile an N-line return file against a released batch, next to COPY of the same file into
a bare table in the same run (the floor any import must stand on).

    python -m bench.reconcile --n 1000000 [--url postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import codecs
import csv
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from bench.common import Figure, peak_rss_mb
from ledger import db
from ledger.jurisdictions.service import seed_reference_data
from ledger.pii import account_key
from reconciliation.service import import_bank_file
from reconciliation.simulate import write_csv_return
from tests.reconciliation.batches import released_batch


def _decoded_lines(data: bytes, encoding: str) -> Iterator[str]:
    """The file's text, line by line, decoded incrementally (no whole-text copy)."""
    decoder = codecs.getincrementaldecoder(encoding)()
    tail = ""
    for start in range(0, len(data), 1 << 20):
        text_ = tail + decoder.decode(data[start : start + (1 << 20)])
        lines = text_.split("\n")
        tail = lines.pop()
        yield from (ln + "\n" for ln in lines)
    tail += decoder.decode(b"", final=True)
    if tail:
        yield tail


def floor(session: Session, data: bytes) -> float:
    """The P3 floor: the file parsed with Python's csv, the account key hashed, and the rows
    COPYed into a bare table, in one transaction; seconds."""
    raw = session.connection().connection.driver_connection
    assert raw is not None
    t0 = time.perf_counter()
    with raw.cursor() as cur:
        cur.execute(
            "CREATE TEMP TABLE floor_return (seq text, account_key text, name text, "
            "amount text, reference text, result text, reason text)"
        )
        with cur.copy("COPY floor_return FROM STDIN") as copy:
            for row in csv.reader(_decoded_lines(data, "gbk")):
                if len(row) == 7 and row[0].isdigit():
                    copy.write_row((row[0], account_key(row[1]), *row[2:]))
    session.commit()
    return time.perf_counter() - t0


def cases(db_url: str, quick: bool, n: int | None = None) -> list[Figure]:
    n = n or (5_000 if quick else 1_000_000)
    db.upgrade(db_url)
    engine = db.make_engine(db_url, poolclass=NullPool)
    with Session(engine) as session:
        seed_reference_data(session=session)
        session.commit()
        session.commit()
        period = f"20{int(time.time()) % 80 + 10:02d}{int(time.time()) % 12 + 1:02d}"
        batch = released_batch(session, n=n, period=period, bank="BENCH")
        failed = {seq: "账号不存在" for seq in range(17, n, 31)}
        data = write_csv_return(batch.sim(failed), encoding="gbk")
        del batch

        raw = session.connection().connection.driver_connection
        assert raw is not None
        t0 = time.perf_counter()
        with raw.cursor() as cur:
            cur.execute("CREATE TEMP TABLE bare_return (line text)")
            cur.execute("SET LOCAL client_encoding = 'GBK'")
            with cur.copy("COPY bare_return FROM STDIN (FORMAT text)") as copy:
                copy.write(data)
        session.commit()
        baseline = time.perf_counter() - t0

        floor_s = floor(session, data)
        session.execute(text("SELECT 1"))
    engine.dispose()
    # The import runs in a fresh interpreter so that its peak memory is its own, not the
    # fixture's (a million simulated lines and payouts are held to write the file).
    with tempfile.NamedTemporaryFile(suffix=".csv") as fh:
        fh.write(data)
        fh.flush()
        del data
        child = subprocess.run(
            [sys.executable, "-m", "bench.reconcile", "--import-file", fh.name, "--url", db_url],
            check=True,
            capture_output=True,
            text=True,
        )
    measured = json.loads(child.stdout.strip().splitlines()[-1])
    assert measured["paid"] + measured["failed"] == n
    return [
        Figure(
            case=f"P3 reconcile a {n:,}-line GBK CSV return file against its released batch",
            n=n,
            ours=round(measured["seconds"], 2),
            baseline=round(baseline, 2),
            baseline_name="COPY of the same file into a bare table",
            peak_mb=measured["peak_mb"],
            note="one transaction: parse once straight into COPY to staging, totals checked "
            "from that pass, set-based match/settle, one settlement entry",
        ),
        Figure(
            case=f"P3 reconcile a {n:,}-line GBK CSV return file (floor)",
            n=n,
            ours=round(measured["seconds"], 2),
            baseline=round(floor_s, 2),
            baseline_name="parse with csv + hash the account key + COPY into a bare table",
            peak_mb=measured["peak_mb"],
        ),
    ]


def import_file(path: str, db_url: str) -> dict[str, float]:
    """Import one return file, timed, in this process: seconds, peak RSS and the counts. The
    file is handed over open, as an upload is (spooled): it is read in pieces, never whole."""
    engine = db.make_engine(db_url, poolclass=NullPool)
    with Session(engine) as session, Path(path).open("rb") as data:
        t0 = time.perf_counter()
        result = import_bank_file(session, data=data, uploaded_by="bench", bank_code="BENCH")
        seconds = time.perf_counter() - t0
    engine.dispose()
    return {
        "seconds": seconds,
        "peak_mb": round(peak_rss_mb(), 1),
        "paid": result["counts"]["paid"],
        "failed": result["counts"]["failed"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--url", default=None, help="default: the configured database")
    parser.add_argument("--import-file", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    url = args.url or db.database_url()
    if args.import_file:
        print(json.dumps(import_file(args.import_file, url)))
        return
    for fig in cases(url, quick=False, n=args.n):
        print(json.dumps(fig.as_dict(), ensure_ascii=False))


if __name__ == "__main__":
    main()
