"""Build and release an N-payout batch, against COPY of the same rows into a bare table.

``python -m bench.batch_release --n 1000000 [--db URL]``; ``cases(db_url, quick)`` for the
harness. Setup (roster rows, funding) is not timed; the timed part is the service path a county
uses: ``build_batch`` (candidates, set-based insert, every check) and ``release_batch`` (Merkle
digest, journal entry, set-based state change).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
import time
from collections.abc import Iterator
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from bench.common import Figure, peak_rss_mb
from ledger import db
from ledger.access.service import create_bank
from ledger.batches.service import build_batch, release_batch
from ledger.domain import allocation_lines, transfer_lines
from ledger.journal.service import post_entry
from ledger.jurisdictions.service import seed_reference_data
from ledger.pii import store_account
from ledger.roster.bulk import copy_rows

FUND, BANK, PERIOD = "urban_minimum_living", "BENCHBK", "202401"
_PAYOUT_COLUMNS = (
    "batch_id, seq, reference, county_code, fund_code, period, person_key, household_id, "
    "household_size, township, village, payee_name, account_key, account_enc, account_masked, account_name, bank_code, "
    "amount_fen"
)


def _person(run: str, i: int) -> str:
    return hashlib.sha256(f"{run}:{i}".encode()).hexdigest()


def _amount(i: int) -> int:
    return 300_00 + (i * 7919) % 1500_00


def _roster_rows(
    run: str, n: int, import_id: int, county: str, period: str
) -> Iterator[tuple[Any, ...]]:
    for i in range(n):
        yield (
            import_id,
            county,
            FUND,
            _person(run, i),
            period,
            True,
            "440103********0000",
            f"H{i:09d}",
            "张三丰",
            "城关街道",
            "东村",
            1 + i % 4,
            _amount(i),
            BANK,
            *store_account(f"6222{i:015d}"),
            "张三丰",
            period,
            None,
        )


def _payout_rows(run: str, n: int, county: str, period: str) -> Iterator[tuple[Any, ...]]:
    for i in range(n):
        yield (
            0,
            i + 1,
            f"{i:010d}",
            county,
            FUND,
            period,
            _person(run, i),
            f"H{i:09d}",
            1 + i % 4,
            "城关街道",
            "东村",
            "张三丰",
            *store_account(f"6222{i:015d}"),
            "张三丰",
            BANK,
            _amount(i),
        )


def _copy_text(value: Any) -> str:
    if value is None:
        return "\\N"
    return (
        str(value)
        .replace("\\", "\\\\")
        .replace("\t", "\\t")
        .replace("\n", "\\n")
        .replace("\r", "\\r")
    )


def _prebuild(fh: Any, run: str, n: int, county: str, period: str) -> None:
    """The baseline's rows, HMAC and encryption included, written to ``fh`` in COPY's text
    format before the clock starts: the timed COPY only moves pre-built rows."""
    buf: list[str] = []
    for row in _payout_rows(run, n, county, period):
        buf.append("\t".join(_copy_text(v) for v in row))
        if len(buf) >= 10_000:
            fh.write(("\n".join(buf) + "\n").encode())
            buf.clear()
    if buf:
        fh.write(("\n".join(buf) + "\n").encode())
    fh.seek(0)


def _setup(session: Session, run: str, n: int) -> str:
    """A roster of ``n`` for a county no earlier run used, funded; returns the county."""
    seed_reference_data(session=session)
    session.commit()
    create_bank(session, code=BANK, name="基准测试银行")
    county = session.execute(
        text(
            "SELECT code FROM jurisdiction WHERE level = 3 AND code NOT IN "
            "(SELECT county_code FROM roster_version) ORDER BY code LIMIT 1"
        )
    ).scalar_one()
    city, period = county[:4] + "00", PERIOD
    need = sum(_amount(i) for i in range(n))
    post_entry(
        session, kind="allocation", lines=allocation_lines("440000", FUND, need), created_by="bench"
    )
    post_entry(
        session,
        kind="transfer",
        lines=transfer_lines("440000", city, FUND, need),
        created_by="bench",
    )
    post_entry(
        session, kind="transfer", lines=transfer_lines(city, county, FUND, need), created_by="bench"
    )
    import_id = session.execute(
        text(
            "INSERT INTO register_import (kind, jurisdiction_code, effective_period, sha256, "
            "row_count, imported_by) VALUES ('roster', :c, :p, :h, :n, 'bench') RETURNING id"
        ),
        {"c": county, "p": period, "h": "0" * 64, "n": n},
    ).scalar_one()
    copy_rows(
        session,
        "roster_version",
        (
            "import_id",
            "county_code",
            "fund_code",
            "person_key",
            "valid_from",
            "active",
            "id_masked",
            "household_id",
            "payee_name",
            "township",
            "village",
            "household_size",
            "amount_fen",
            "bank_code",
            "account_key",
            "account_enc",
            "account_masked",
            "account_name",
            "start_period",
            "end_period",
        ),
        _roster_rows(run, n, import_id, county, period),
    )
    session.commit()
    session.execute(text("ANALYZE roster_version"))
    session.commit()
    return county


def cases(db_url: str, quick: bool, n: int | None = None) -> list[Figure]:
    n = n or (5_000 if quick else 1_000_000)
    db.upgrade(db_url)
    engine = db.make_engine(db_url, poolclass=NullPool)
    run = os.urandom(8).hex()
    with Session(engine) as session:
        county = _setup(session, run, n)
        period = PERIOD

        t0 = time.perf_counter()
        built = build_batch(
            session,
            county=county,
            fund=FUND,
            period=period,
            bank_code=BANK,
            created_by="bench-maker",
        )
        t1 = time.perf_counter()
        released = release_batch(session, batch_id=built["id"], released_by="bench-checker")
        t2 = time.perf_counter()
        assert released["line_count"] == n, released

        session.execute(
            text(
                f"CREATE TABLE bench_bare_payout_{run} AS SELECT {_PAYOUT_COLUMNS} "
                "FROM payout WITH NO DATA"
            )
        )
        session.commit()
        with tempfile.TemporaryFile() as prebuilt:
            _prebuild(prebuilt, run, n, county, period)
            raw = session.connection().connection.driver_connection
            assert raw is not None
            t3 = time.perf_counter()
            with (
                raw.cursor() as cur,
                cur.copy(
                    f"COPY bench_bare_payout_{run} ({_PAYOUT_COLUMNS}) FROM STDIN (FORMAT text)"
                ) as copy,
            ):
                while chunk := prebuilt.read(1 << 20):
                    copy.write(chunk)
            session.commit()
            t4 = time.perf_counter()
        session.execute(text(f"DROP TABLE bench_bare_payout_{run}"))
        session.commit()
    engine.dispose()
    peak = peak_rss_mb()
    copy_s = t4 - t3
    return [
        Figure(
            f"P2 build + release a {n:,}-payout batch",
            n,
            t2 - t0,
            copy_s,
            "COPY the same pre-built rows into a bare table",
            peak_mb=peak,
            note=f"build {t1 - t0:.1f} s, release {t2 - t1:.1f} s",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--db", default=os.environ.get("LEDGER_DATABASE_URL"))
    args = parser.parse_args()
    if not args.db:
        raise SystemExit("give --db URL or set LEDGER_DATABASE_URL")
    for f in cases(args.db, quick=False, n=args.n):
        print(
            f"{f.case}: ours {f.ours:.2f} s ({f.note}); {f.baseline_name} {f.baseline:.2f} s; "
            f"ratio {f.ratio:.2f}×; peak RSS {f.peak_mb:.0f} MiB"
        )


if __name__ == "__main__":
    main()
