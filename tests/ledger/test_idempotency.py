from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from ledger.domain import allocation_lines
from ledger.journal.service import post_entry
from tests.factories import make_user

FUND = "urban_minimum_living"


def _allocate(session: Session, amount: int = 5000) -> int:
    e = post_entry(
        session, kind="allocation", lines=allocation_lines("440000", FUND, amount), created_by="t"
    )
    session.commit()
    return e.id


def test_replay_returns_first_result_and_conflict_is_409(client, session: Session) -> None:
    fin = make_user(session, "finance", "440000")
    entry = _allocate(session)
    h = fin.write("rev-1")
    first = client.post(f"/entries/{entry}/reversal", json={"memo": "oops"}, headers=h)
    again = client.post(f"/entries/{entry}/reversal", json={"memo": "oops"}, headers=h)
    assert first.status_code == 201 and again.status_code == 201
    assert first.json() == again.json()
    other = client.post(f"/entries/{entry}/reversal", json={"memo": "different"}, headers=h)
    assert other.status_code == 409
    assert other.json()["error"]["details"][0]["field"] == "Idempotency-Key"
    assert (
        session.execute(
            text("SELECT count(*) FROM journal_entry WHERE reverses_id = :e"), {"e": entry}
        ).scalar()
        == 1
    )


def test_missing_key_is_422(client, session: Session) -> None:
    fin = make_user(session, "finance", "440000")
    entry = _allocate(session)
    r = client.post(f"/entries/{entry}/reversal", json={}, headers=fin.headers)
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "validation_failed"


def test_concurrent_replays_of_one_key_create_one_entry(
    client, engine: Engine, session: Session
) -> None:
    fin = make_user(session, "finance", "440000")
    entry = _allocate(session)
    h = fin.write("same-key")

    def call(_: int) -> tuple[int, dict]:
        r = client.post(f"/entries/{entry}/reversal", json={"memo": "x"}, headers=h)
        return r.status_code, r.json()

    with ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(call, range(16)))
    assert {s for s, _ in replies} == {201}
    assert len({b["entry_id"] for _, b in replies}) == 1
    assert session.execute(text("SELECT count(*) FROM journal_entry")).scalar() == 2
