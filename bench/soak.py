"""Soak on loopback: ``ledger serve`` as a subprocess, many concurrent clients for a bounded time,
then the books are checked for anything lost, doubled or overdrawn.

    python -m bench.soak --seconds 120 --clients 32 [--database-url URL] [--out var/soak.json]

Without ``--database-url`` a fresh database ``ledger_soak`` is made on the benchmarks' server
(embedded unless ``LEDGER_DATABASE_URL``). The short form runs in CI from
``tests/reliability/test_soak.py``; the figures of a long run are in ``docs/reliability.md``.

Writes exercised (whatever is mounted): reversals (contended: several clients race for the same
entry, some would overdraw special cash), replays of the same Idempotency-Key, period closes,
findings runs, audit and disclosure PDF downloads (each recorded in the report register) and
reads of the books.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from ledger import db
from ledger.access import service as access
from ledger.documents import service as documents
from ledger.journal.verify import verify

ROOT = Path(__file__).resolve().parent.parent
FUND = "urban_minimum_living"
PROVINCE, CITY, COUNTY = "440000", "440100", "440103"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ApiServer:
    """``ledger serve`` on 127.0.0.1 as the application role; kill -9 and restart on demand."""

    def __init__(self, db_url: str, *, port: int | None = None, log: Path | None = None) -> None:
        self.db_url = db_url
        self.port = port or free_port()
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        env = {
            **os.environ,
            "LEDGER_DATABASE_URL": self.db_url,
            "LEDGER_DB_ROLE": db.APP_ROLE,
            "LEDGER_ENVIRONMENT": "test",
            "PYTHONPATH": str(ROOT),
        }
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL  # noqa: SIM115
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
            ],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=out,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ledger serve exited with {self.proc.returncode}")
            try:
                if httpx.get(self.base_url + "/openapi.json", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("ledger serve did not come up")

    def kill(self) -> None:
        """kill -9: no shutdown handler runs, open transactions die with their connections."""
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class Users:
    tokens: dict[str, str] = field(default_factory=dict)  # name -> token

    def headers(self, name: str, key: str | None = None) -> dict[str, str]:
        h = {"Authorization": f"Bearer {self.tokens[name]}", "X-Request-ID": uuid.uuid4().hex}
        if key:
            h["Idempotency-Key"] = key
        return h


def prepare_books(db_url: str, *, entries: int = 60) -> tuple[Users, list[int]]:
    """Users of each role and a funded chain with ``entries`` allocations/transfers to reverse."""
    engine = db.make_engine(db_url, poolclass=NullPool)
    users = Users()
    with Session(engine) as session:
        from ledger.jurisdictions.service import seed_reference_data

        if not session.execute(text("SELECT 1 FROM jurisdiction LIMIT 1")).first():
            seed_reference_data(session=session)
            session.commit()
        for name, role, jur in [
            ("soak-finance", "finance", PROVINCE),
            ("soak-finance-2", "finance", PROVINCE),
            ("soak-city-finance", "finance", CITY),
            ("soak-auditor", "auditor", PROVINCE),
            ("soak-civil", "civil_affairs", COUNTY),
            ("soak-admin", "admin", "000000"),
        ]:
            bureau = access.create_bureau(
                session, jurisdiction=jur, kind=access.ROLE_BUREAU[role], name=f"{jur}-{role}"
            )
            uid = session.execute(
                text("SELECT id FROM app_user WHERE username = :u"), {"u": name}
            ).scalar()
            if uid is None:
                uid = access.create_user(
                    session, username=name, display_name=name, bureau_id=bureau, role=role
                )
            users.tokens[name] = access.issue_token(session, user_id=uid, days=1)
        session.commit()
        maker, checker = (principal_of(session, n) for n in ("soak-finance", "soak-finance-2"))
        rng = random.Random(8)
        targets: list[int] = []
        run = uuid.uuid4().hex[:8]
        for i in range(entries):
            amount = rng.randint(1, 500) * 100_00
            # Every third a transfer down: reversing it needs the city's cash back.
            transfer = i % 3 == 2
            try:
                doc = documents.create_document(
                    session,
                    principal=maker,
                    doc_type="transfer" if transfer else "allocation",
                    number=f"soak-{run}-{i}",
                    fiscal_year=date.today().year,
                    amount_fen=amount,
                    fund=FUND,
                    to_jurisdiction=CITY if transfer else None,
                )
                posted = documents.approve_document(
                    session, principal=checker, document_id=doc["id"]
                )
                targets.append(posted["document"]["entry_ids"][0])
                session.commit()
            except Exception:
                session.rollback()
    engine.dispose()
    return users, targets


def principal_of(session: Session, username: str) -> Any:
    from ledger.access.service import Principal

    row = session.execute(
        text(
            "SELECT u.id, u.role, b.id AS bureau, b.jurisdiction_code FROM app_user u "
            "JOIN bureau b ON b.id = u.bureau_id WHERE u.username = :u"
        ),
        {"u": username},
    ).one()
    return Principal(row.id, username, row.role, row.bureau, row.jurisdiction_code)


def reversal_documents(session: Session) -> dict[int, int]:
    """Entry reversed -> the reversal document drafted for it (one live one at most)."""
    return dict(
        session.execute(
            text(
                "SELECT o.entry_id, r.id FROM fund_document r JOIN fund_document o "
                "ON o.id = r.reverses_document_id WHERE r.doc_type = 'reversal'"
            )
        ).all()
    )


@dataclass
class Call:
    op: str
    status: int  # 0: no answer (connection refused or cut)
    seconds: float
    key: str | None = None
    target: int | None = None
    request_id: str = ""
    body: dict[str, Any] | None = None


def _one(
    client: httpx.Client,
    users: Users,
    targets: list[int],
    rng: random.Random,
    keys: itertools.count[int],
    served: list[Call],
) -> Call:
    pick = rng.random()
    key = f"soak-{next(keys)}"
    if pick < 0.40:
        target = rng.choice(targets)
        op, method, url = "reversal", "POST", f"/entries/{target}/reversal"
        kwargs: dict[str, Any] = {"json": {"reason": "soak"}}
        headers = users.headers("soak-finance", key)
    elif pick < 0.50 and served:
        first = rng.choice(served)  # replay an earlier write with its own key and body
        op, method, url, key, target = (
            "replay",
            "POST",
            f"/entries/{first.target}/reversal",
            first.key,
            first.target,
        )
        kwargs = {"json": {"reason": "soak"}}
        headers = users.headers("soak-finance", key)
    elif pick < 0.53:
        target = None
        op, method, url = "close_period", "POST", "/periods/close"
        kwargs = {"json": {"period": f"2019{rng.randint(1, 12):02d}"}}
        headers = users.headers("soak-finance", key)
    elif pick < 0.58:
        target = None
        op, method, url = "findings_run", "POST", f"/jurisdictions/{PROVINCE}/findings/runs"
        kwargs = {"json": {"period": "202406"}}
        headers = users.headers("soak-auditor", key)
    elif pick < 0.62:
        target, key = None, None
        op, method, url = "audit_pdf", "GET", "/reports/audit"
        kwargs = {"params": {"jurisdiction": COUNTY, "period": "202406"}}
        headers = users.headers("soak-auditor")
    elif pick < 0.66:
        target, key = None, None
        op, method, url = "forbidden", "POST", f"/entries/{rng.choice(targets)}/reversal"
        kwargs = {"json": {"reason": "soak"}}
        headers = users.headers("soak-civil", f"soak-x-{next(keys)}")
    else:
        target, key = None, None
        op, method, url = "trial_balance", "GET", f"/jurisdictions/{PROVINCE}/trial-balance"
        kwargs = {"params": {"rollup": "true"}}
        headers = users.headers("soak-auditor")
    t0 = time.perf_counter()
    try:
        r = client.request(method, url, headers=headers, **kwargs)
        status = r.status_code
        body = (
            r.json() if r.headers.get("content-type", "").startswith("application/json") else None
        )
    except httpx.HTTPError:
        status, body = 0, None
    call = Call(op, status, time.perf_counter() - t0, key, target, headers["X-Request-ID"], body)
    if op == "reversal" and status == 201:
        served.append(call)
    return call


def drive(
    base_url: str, users: Users, targets: list[int], *, seconds: float, clients: int, seed: int = 1
) -> list[Call]:
    """``clients`` threads, each with its own connection, for ``seconds``."""
    calls: list[Call] = []
    served: list[Call] = []
    lock = threading.Lock()
    keys = itertools.count(1)
    deadline = time.monotonic() + seconds

    def worker(n: int) -> None:
        rng = random.Random(seed * 1000 + n)
        mine: list[Call] = []
        with httpx.Client(base_url=base_url, timeout=60) as client:
            while time.monotonic() < deadline:
                mine.append(_one(client, users, targets, rng, keys, served))
        with lock:
            calls.extend(mine)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return calls


def percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def check_books(db_url: str, calls: list[Call]) -> dict[str, Any]:
    """What must hold after any run: returns the findings; ``problems`` is empty when all held."""
    problems: list[str] = []
    engine = db.make_engine(db_url, poolclass=NullPool)
    with Session(engine) as session:
        report = verify(session)
        if not report.ok:
            problems.extend(report.problems)
        negative = session.execute(
            text("SELECT count(*) FROM account WHERE kind = 'special_cash' AND balance_fen < 0")
        ).scalar()
        if negative:
            problems.append(f"{negative} special cash accounts are negative")
        paid_twice = session.execute(
            text(
                "SELECT count(*) FROM (SELECT 1 FROM payout WHERE state IN ('sent','paid') "
                "GROUP BY person_key, fund_code, period HAVING count(*) > 1) t"
            )
        ).scalar()
        if paid_twice:
            problems.append(f"{paid_twice} people were paid twice for one fund and period")
        # A reversal is drafted by one user and posted only when a second approves it: the
        # soak drafts them, contended, and checks each accepted draft is on record once.
        reversals = reversal_documents(session)
        accepted: dict[str, int] = {}
        for c in calls:
            if c.op in ("reversal", "replay") and c.status == 201 and c.body and c.key:
                draft = int(c.body["id"])
                if accepted.setdefault(c.key, draft) != draft:
                    problems.append(f"key {c.key} answered with two different drafts")
                if reversals.get(c.target) != draft:
                    problems.append(f"accepted reversal {draft} of {c.target} is not on record")
        if len(set(accepted.values())) != len(accepted):
            problems.append("two keys were answered with the same reversal draft")
        if len(reversals) != len(set(accepted.values())):
            problems.append(
                f"{len(reversals)} reversal drafts on record but {len(set(accepted.values()))} accepted"
            )
        audited = _audit_coverage(session, calls)
        problems.extend(audited.pop("problems"))
    engine.dispose()
    return {
        "verify_ok": report.ok,
        "entries": report.entry_count,
        "chain_head": report.chain_head,
        "reversals_in_books": len(reversals),
        "problems": problems,
        **audited,
    }


def _audit_coverage(session: Session, calls: list[Call]) -> dict[str, Any]:
    """Every write answered (accepted or refused) has its row in audit_log, when it is recorded."""
    logged = {
        r[0]: r[1]
        for r in session.execute(
            text("SELECT request_id, outcome FROM audit_log WHERE request_id IS NOT NULL")
        ).all()
    }
    if not logged:
        return {"audit_log_checked": False, "problems": []}
    problems = []
    writes = [c for c in calls if c.key and c.status]
    for c in writes:
        outcome = logged.get(c.request_id)
        if outcome is None:
            problems.append(f"{c.op} request {c.request_id} ({c.status}) is not in audit_log")
        elif (outcome == "accepted") != (c.status < 400):
            problems.append(
                f"{c.op} request {c.request_id}: audit_log says {outcome}, got {c.status}"
            )
    return {"audit_log_checked": True, "audit_rows": len(logged), "problems": problems[:50]}


def summarise(calls: list[Call], seconds: float) -> dict[str, Any]:
    latencies = [c.seconds for c in calls if c.status]
    by_op: dict[str, Any] = {}
    for op in sorted({c.op for c in calls}):
        mine = [c for c in calls if c.op == op]
        by_op[op] = {
            "requests": len(mine),
            "p50_ms": round(percentile([c.seconds for c in mine], 50) * 1000, 1),
            "p99_ms": round(percentile([c.seconds for c in mine], 99) * 1000, 1),
            "status": dict(sorted(Counter(str(c.status) for c in mine).items())),
        }
    return {
        "requests": len(calls),
        "seconds": seconds,
        "requests_per_s": round(len(calls) / seconds, 1),
        "p50_ms": round(percentile(latencies, 50) * 1000, 1),
        "p99_ms": round(percentile(latencies, 99) * 1000, 1),
        "status": dict(sorted(Counter(str(c.status) for c in calls).items())),
        "by_operation": by_op,
    }


def run_soak(
    db_url: str, *, seconds: float, clients: int, log: Path | None = None
) -> dict[str, Any]:
    users, targets = prepare_books(db_url)
    server = ApiServer(db_url, log=log)
    server.start()
    try:
        calls = drive(server.base_url, users, targets, seconds=seconds, clients=clients)
    finally:
        server.stop()
    return {
        "clients": clients,
        **summarise(calls, seconds),
        "books": check_books(db_url, calls),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "soak.json")
    args = parser.parse_args()
    url = args.database_url
    if url is None:
        from bench.server import start

        server = start()
        server.fresh_database("ledger_soak")
        url = server.url("ledger_soak")
    db.upgrade(url)
    figures = run_soak(
        url, seconds=args.seconds, clients=args.clients, log=args.out.with_suffix(".log")
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, ensure_ascii=False, indent=2))
    print(json.dumps({k: v for k, v in figures.items() if k != "by_operation"}, indent=2))
    if figures["books"]["problems"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
