"""P1/P5/P6: single-entry posting through our service and through ``ledger serve``.

Every posting takes the full path a real write takes: idempotency claim, the period check, the
account locks, the special-cash check, the hash chain, the database triggers, the idempotency
record, one COMMIT. ``python -m bench.posting service URL N W`` runs the service case in its own
process (so its peak RSS is its own) and prints one JSON line.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from bench.common import peak_rss_mb
from bench.timing import percentile, run_threads
from ledger import db
from ledger.access import service as access
from ledger.domain import allocation_lines, transfer_lines
from ledger.journal import idempotency
from ledger.journal.service import PostingWork, post_entry
from ledger.jurisdictions.service import seed_reference_data
from ledger.uow import AuditTrail, GroupPoster, UnitOfWork

ROOT = Path(__file__).resolve().parent.parent
FUND = "urban_minimum_living"
PROVINCE = "440000"
CITIES = ["440100", "440200", "440300", "440400", "440500", "440600", "440700", "440800"]


def prepare(url: str) -> None:
    """Migrate a fresh database and load the divisions and funds."""
    db.upgrade(url)
    engine = db.make_engine(url, poolclass=NullPool)
    with Session(engine) as session:
        seed_reference_data(session=session)
        session.commit()
        session.commit()
    engine.dispose()


def post_one(session: Session, *, writer: int, i: int, run: str) -> None:
    """One write as a route makes it: even items allocate 2 yuan, odd ones pass 1 yuan down."""
    if i % 2 == 0:
        kind, lines = "allocation", allocation_lines(PROVINCE, FUND, 200)
    else:
        kind, lines = "transfer", transfer_lines(PROVINCE, CITIES[writer % 8], FUND, 100)
    body = {"kind": kind, "writer": writer, "i": i}
    key = f"bench-{run}-{writer}-{i}"
    owner = f"operator:bench-{writer}"
    if idempotency.claim(session, principal=owner, key=key, operation=kind, body=body) is None:
        posted = post_entry(session, kind=kind, lines=lines, created_by="bench")
        idempotency.record(
            session,
            principal=owner,
            key=key,
            operation=kind,
            response=posted.as_dict(),
            status_code=201,
        )
    session.commit()


def grouped_rate(url: str, n: int, writers: int, spread: str) -> dict[str, Any]:
    """``writers`` threads hand whole units of work (claim, entry, record, audit row) to one
    group poster. ``spread``: "hot" puts every entry on the province's special account,
    "counties" gives each writer a city of its own, "mixed" is ``post_one``'s alternation."""
    engine = db.make_engine(url)
    run = uuid.uuid4().hex[:8]
    poster = GroupPoster(engine)

    def lines_for(w: int, i: int) -> tuple[str, Any]:
        if spread == "counties":
            return "allocation", allocation_lines(CITIES[w % 8], FUND, 200)
        if spread == "hot" or i % 2 == 0:
            return "allocation", allocation_lines(PROVINCE, FUND, 200)
        return "transfer", transfer_lines(PROVINCE, CITIES[w % 8], FUND, 100)

    def work(w: int, count: int) -> None:
        for i in range(count):
            kind, lines = lines_for(w, i)
            uow = UnitOfWork(
                engine, trail=AuditTrail(action=kind), operator=f"bench-{w}", poster=poster
            )
            uow.run(
                PostingWork(kind=kind, lines=tuple(lines), created_by="bench"),
                operation=kind,
                key=f"bench-{run}-{w}-{i}",
                body={"kind": kind, "writer": w, "i": i},
                status_code=201,
            )

    poster.run(  # the poster's connection opens before the clock starts
        UnitOfWork(engine, trail=AuditTrail(action="warm-up"), operator="bench"),
        lambda s: {},
        operation="warm-up",
        key=None,
    )
    groups = poster.groups
    elapsed = run_threads(writers, n, work)
    groups = poster.groups - groups
    poster.close()
    engine.dispose()
    return {
        "rate": n / elapsed,
        "seconds": elapsed,
        "n": n,
        "peak_mb": peak_rss_mb(),
        "mean_group": n / groups if groups else 0.0,
    }


def service_rate(url: str, n: int, writers: int) -> dict[str, Any]:
    engine = db.make_engine(url)
    run = uuid.uuid4().hex[:8]
    sessions = [Session(engine, expire_on_commit=False) for _ in range(writers)]
    for s in sessions:  # open the connections before the clock starts
        s.connection()
        s.commit()

    def work(w: int, count: int) -> None:
        for i in range(count):
            post_one(sessions[w], writer=w, i=i, run=run)

    elapsed = run_threads(writers, n, work)
    for s in sessions:
        s.close()
    engine.dispose()
    return {"rate": n / elapsed, "seconds": elapsed, "n": n, "peak_mb": peak_rss_mb()}


def run_service_subprocess(
    url: str, n: int, writers: int, grouped: str | None = None
) -> dict[str, Any]:
    """The service case in its own process; ``grouped`` = None (one transaction per entry) or
    the spread of a group-posting case ("hot", "counties", "mixed")."""
    args = (
        ["grouped", url, str(n), str(writers), grouped]
        if grouped
        else ["service", url, str(n), str(writers)]
    )
    out = subprocess.run(
        [sys.executable, "-m", "bench.posting", *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


# ---- HTTP ----------------------------------------------------------------------------------


def seed_entries(url: str, n: int) -> tuple[str, list[int]]:
    """A maker and a checker of the province's finance bureau, and ``n`` allocation drafts by
    the maker; returns the checker's token and the drafts: approving one over HTTP posts it."""
    from datetime import date

    from ledger.documents.service import create_document

    engine = db.make_engine(url, poolclass=NullPool)
    ids: list[int] = []
    with Session(engine) as session:
        bureau = access.create_bureau(
            session, jurisdiction=PROVINCE, kind="finance", name="bench finance"
        )
        tokens = []
        for role in ("maker", "checker"):
            name = f"bench-{role}-{uuid.uuid4().hex[:6]}"
            uid = access.create_user(
                session, username=name, display_name=name, bureau_id=bureau, role="finance"
            )
            tokens.append(access.issue_token(session, user_id=uid))
        session.commit()
        maker = access.authenticate(session, tokens[0])
        run = uuid.uuid4().hex[:6]
        for i in range(n):
            doc = create_document(
                session,
                principal=maker,
                doc_type="allocation",
                number=f"B-{run}-{i}",
                fiscal_year=date.today().year,
                amount_fen=100,
                fund=FUND,
            )
            ids.append(int(doc["id"]))
            if i % 200 == 199:
                session.commit()
        session.commit()
    engine.dispose()
    return tokens[1], ids


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Serve:
    """``ledger serve`` on 127.0.0.1 as its own process, against ``url``."""

    def __init__(self, url: str, workers: int = 1, group_posting: bool = True) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "LEDGER_DATABASE_URL": url,
            "LEDGER_GROUP_POSTING": "1" if group_posting else "0",
        }
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ledger",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                str(workers),
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/openapi.json", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError("ledger serve exited while starting")
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("ledger serve did not answer within 60 s")

    def peak_mb(self) -> float:
        """The largest peak RSS of the server's processes (with workers, of one worker)."""
        pids = [self.proc.pid]
        try:
            with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as f:
                pids += [int(p) for p in f.read().split()]
        except OSError:
            pass
        peak = 0.0
        for pid in pids:
            try:
                with open(f"/proc/{pid}/status") as f:
                    for line in f:
                        if line.startswith("VmHWM:"):
                            peak = max(peak, int(line.split()[1]) / 1024)
            except OSError:
                continue
        return peak

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def _approve(client: httpx.Client, token: str, document_id: int, run: str) -> int:
    """The checker approves a draft: the write that posts its entry."""
    r = client.post(
        f"/documents/{document_id}/approval",
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": f"ok-{run}-{document_id}"},
    )
    return r.status_code


def http_rate(base: str, token: str, ids: list[int], clients: int = 8) -> dict[str, Any]:
    """Closed loop: ``clients`` threads, each reversing its share of ``ids`` one after another."""
    run = uuid.uuid4().hex[:8]
    shares = [ids[i::clients] for i in range(clients)]
    pool = [httpx.Client(base_url=base, timeout=30) for _ in range(clients)]
    bad: list[int] = []

    def work(w: int, _count: int) -> None:
        for eid in shares[w]:
            code = _approve(pool[w], token, eid, run)
            if code != 200:
                bad.append(code)

    # run_threads splits n itself; here each thread takes its own share of ids
    elapsed = run_threads(clients, clients, work)
    for c in pool:
        c.close()
    if bad:
        raise RuntimeError(f"{len(bad)} approvals failed, e.g. HTTP {bad[0]}")
    return {"rate": len(ids) / elapsed, "seconds": elapsed, "n": len(ids)}


def http_latency(base: str, token: str, ids: list[int], rate: float) -> dict[str, Any]:
    """Open loop: request i is due at start + i/rate whether or not earlier ones have answered.

    Latency counts from the due time, so a server that falls behind shows it (no coordinated
    omission).
    """
    run = uuid.uuid4().hex[:8]
    local = threading.local()
    latencies: list[float] = []
    bad: list[int] = []
    lock = threading.Lock()

    def fire(eid: int, due: float) -> None:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = httpx.Client(base_url=base, timeout=30)
        code = _approve(client, token, eid, run)
        done = time.perf_counter()
        with lock:
            latencies.append((done - due) * 1000)
            if code != 200:
                bad.append(code)

    with ThreadPoolExecutor(max_workers=64) as pool:
        start = time.perf_counter() + 0.2
        for i, eid in enumerate(ids):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pool.submit(fire, eid, due)
    elapsed = time.perf_counter() - start
    latencies.sort()
    return {
        "offered_rate": rate,
        "achieved_rate": len(ids) / elapsed,
        "n": len(ids),
        "p50_ms": percentile(latencies, 0.50),
        "p99_ms": percentile(latencies, 0.99),
        "max_ms": latencies[-1] if latencies else 0.0,
        "errors": len(bad),
    }


if __name__ == "__main__":
    if sys.argv[1] == "service":
        result = service_rate(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
        print(json.dumps(result))
    elif sys.argv[1] == "grouped":
        result = grouped_rate(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
        print(json.dumps(result))
