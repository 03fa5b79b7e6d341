"""Group posting: many writes in one transaction, one savepoint each, acknowledged at COMMIT."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from ledger import db
from ledger.domain import transfer_lines
from ledger.errors import Conflict, InsufficientFunds
from ledger.journal import service
from ledger.journal.verify import verify
from ledger.uow import AuditTrail, GroupPoster, UnitOfWork
from tests.factories import fund_chain
from tests.ledger.poster_child import write

FUND = "urban_minimum_living"
ROOT = Path(__file__).resolve().parents[2]


def _uow(engine: Engine, poster: GroupPoster | None = None) -> UnitOfWork:
    return UnitOfWork(engine, trail=AuditTrail(action="transfer"), operator="t", poster=poster)


def test_a_refused_write_in_a_group_leaves_the_others_posted_and_the_chain_gapless(
    engine: Engine, session: Session
) -> None:
    fund_chain(session, FUND, {"440000": 1_000})
    first = session.execute(text("SELECT seq FROM chain_head")).scalar_one()
    poster = GroupPoster(engine, start=False)

    def transfer(amount: int, fail_after: bool = False) -> Any:
        def work(s: Session) -> dict[str, Any]:
            posted = service.post_entry(
                s,
                kind="transfer",
                lines=transfer_lines("440000", "440100", FUND, amount),
                created_by="t",
            )
            if fail_after:  # refused after its entry took a place in the chain
                raise Conflict("refused after posting")
            return posted.as_dict()

        return work

    plan = [(300, False), (5_000, False), (200, True), (400, False), (300, False)]
    futures = [
        poster.submit(_uow(engine, poster), transfer(a, f), operation="transfer", key=f"g{i}")
        for i, (a, f) in enumerate(plan)
    ]
    poster.start()
    with pytest.raises(InsufficientFunds):
        futures[1].result(timeout=30)
    with pytest.raises(Conflict):
        futures[2].result(timeout=30)
    ids = [futures[i].result(timeout=30).body["entry_id"] for i in (0, 3, 4)]
    poster.close()
    assert poster.groups == 1  # one transaction for the five
    assert ids == [first + 1, first + 2, first + 3]  # gapless, in order
    assert service.special_cash(session, "440000", FUND) == 0
    assert service.special_cash(session, "440100", FUND) == 1_000
    refused = session.execute(
        text("SELECT count(*) FROM audit_log WHERE action = 'transfer' AND outcome <> 'accepted'")
    ).scalar_one()
    assert refused == 2
    keys = session.execute(
        text("SELECT key FROM idempotency_record WHERE principal = 'operator:t' ORDER BY key")
    ).scalars()
    assert list(keys) == ["g0", "g3", "g4"]  # a refusal keeps no key: a retry runs again
    report = verify(session)
    assert report.ok, report.problems


def test_a_kill_of_the_poster_mid_group_loses_no_acknowledged_write_and_applies_none_twice(
    engine: Engine, session: Session, db_url: str
) -> None:
    n = 300
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.ledger.poster_child", db.app_url(db_url), str(n)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    acknowledged = [child.stdout.readline().strip() for _ in range(40)]
    assert child.poll() is None, "the poster finished before it was killed"
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    acknowledged += [line.strip() for line in child.stdout]
    assert all(acknowledged)

    def entries_of(keys: list[str]) -> dict[str, int]:
        rows = session.execute(
            text("SELECT memo, count(*) FROM journal_entry WHERE memo = ANY(:k) GROUP BY memo"),
            {"k": keys},
        ).all()
        return {r[0]: r[1] for r in rows}

    assert entries_of(acknowledged) == {k: 1 for k in acknowledged}  # none lost
    assert len(entries_of([f"k{i}" for i in range(n)])) < n  # the kill came before the end
    session.commit()
    for i in range(n):  # every client retries with its key
        write(engine, None, f"k{i}")
    assert entries_of([f"k{i}" for i in range(n)]) == {f"k{i}": 1 for i in range(n)}
    report = verify(session)
    assert report.ok, report.problems


def test_writes_of_one_group_each_stage_in_their_own_temporary_tables(engine: Engine) -> None:
    poster = GroupPoster(engine, start=False)

    def stage(s: Session) -> dict[str, Any]:
        s.execute(text("CREATE TEMP TABLE staging (i int) ON COMMIT DROP"))
        s.execute(text("INSERT INTO staging VALUES (1)"))
        return {"n": s.execute(text("SELECT count(*) FROM staging")).scalar_one()}

    futures = [
        poster.submit(_uow(engine, poster), stage, operation="stage", key=f"s{i}") for i in range(3)
    ]
    poster.start()
    assert [f.result(timeout=30).body for f in futures] == [{"n": 1}] * 3
    poster.close()
    assert poster.groups == 1
