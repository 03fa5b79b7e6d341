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


@pytest.mark.parametrize("mode", ["", "entries"])
def test_a_kill_of_the_poster_mid_group_loses_no_acknowledged_write_and_applies_none_twice(
    engine: Engine, session: Session, db_url: str, mode: str
) -> None:
    n = 3000 if mode else 300  # entries go to the server many at a time, and fast
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.ledger.poster_child", db.app_url(db_url), str(n), mode],
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
        write(engine, None, f"k{i}", bool(mode))
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


def _entry(amount: int, memo: str = "") -> service.PostingWork:
    return service.PostingWork(
        kind="transfer",
        lines=tuple(transfer_lines("440000", "440100", FUND, amount)),
        created_by="t",
        memo=memo,
    )


def test_entries_posted_in_one_server_call_are_answered_as_one_at_a_time(
    engine: Engine, session: Session
) -> None:
    """Writes that are one entry each go to the server's ``journal_post_group`` together; a
    refusal, a replay and a reused key among them are answered exactly as the ordinary path
    answers them, and what is kept (keys, answers, audit rows) is what that path keeps."""
    fund_chain(session, FUND, {"440000": 1_000})
    session.commit()
    first = session.execute(text("SELECT seq FROM chain_head")).scalar_one()
    alone = _uow(engine).run(  # the ordinary path, for comparison
        _entry(100, "alone"), operation="transfer", key="a0", body={"n": 0}, status_code=201
    )
    poster = GroupPoster(engine, start=False)
    plan = [  # (work, key, body)
        (_entry(300), "g0", {"n": 1}),
        (_entry(5_000), "g1", {"n": 2}),  # more than the province holds: refused
        (_entry(200), "g2", {"n": 3}),
        (_entry(300), "g0", {"n": 1}),  # the same request again: the first answer
        (_entry(300), "g2", {"n": 9}),  # the key of another request: refused
        (_entry(100), "g3", {"n": 4}),
    ]
    futures = [
        poster.submit(_uow(engine, poster), work, operation="transfer", key=key, body=body,
                      status_code=201)
        for work, key, body in plan
    ]  # fmt: skip
    poster.start()
    with pytest.raises(InsufficientFunds, match="special cash of 440000/urban_minimum_living"):
        futures[1].result(timeout=30)
    with pytest.raises(Conflict, match="already used for a different request"):
        futures[4].result(timeout=30)
    answers = {i: futures[i].result(timeout=30) for i in (0, 2, 3, 5)}
    poster.close()
    assert poster.groups == 1
    assert poster.server_posted == 3  # g0, g2, g3 in one journal_post_group call
    assert answers[3].replayed and answers[3].body == answers[0].body
    assert {a.status_code for a in answers.values()} == {201}
    ids = [answers[i].body["entry_id"] for i in (0, 2, 5)]
    assert ids == [first + 2, first + 3, first + 4]  # gapless, in order, after "alone"
    assert service.special_cash(session, "440000", FUND) == 1_000 - 100 - 300 - 200 - 100

    stored = dict(
        session.execute(
            text("SELECT key, response FROM idempotency_record WHERE principal = 'operator:t'")
        ).all()
    )
    assert set(stored) == {"a0", "g0", "g2", "g3"}  # a refusal keeps no key
    assert stored["g0"] == answers[0].body and stored["a0"] == alone.body
    assert set(stored["g0"]) == set(alone.body)

    def audit(where: str) -> list[dict[str, Any]]:
        rows = session.execute(
            text(
                "SELECT username, user_id, bureau_id, role, action, object_type, object_id, "
                f"outcome, status_code, detail FROM audit_log WHERE {where} ORDER BY seq"
            )
        ).mappings()
        return [dict(r) for r in rows]

    accepted = audit("action = 'transfer' AND outcome = 'accepted'")
    assert len(accepted) == 5  # alone, g0, g2, the replay of g0, g3
    assert accepted[1] == accepted[0]  # a grouped write's row is the ordinary one's
    replays = [r for r in accepted if r["detail"].get("replayed")]
    assert [r["detail"] for r in replays] == [{"operator": "t", "replayed": True}]
    assert [r["status_code"] for r in audit("action = 'transfer' AND outcome = 'refused'")] == [
        InsufficientFunds.status_code,
        Conflict.status_code,
    ]
    report = verify(session)
    assert report.ok, report.problems
