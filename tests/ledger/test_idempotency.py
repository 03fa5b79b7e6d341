from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from tests.factories import make_user

FUND = "urban_minimum_living"


def _draft(client, user, key: str, amount: str = "10.00", number: str = "N-1"):
    body = {"number": number, "fiscal_year": date.today().year, "amount": amount, "fund": FUND}
    return client.post("/documents/allocations", json=body, headers=user.write(key))


def _documents(session: Session) -> int:
    return int(session.execute(text("SELECT count(*) FROM fund_document")).scalar_one())


def test_replay_returns_first_result_and_conflict_is_409(client, session: Session) -> None:
    fin = make_user(session, "finance", "440000")
    first = _draft(client, fin, "doc-1")
    again = _draft(client, fin, "doc-1")
    assert first.status_code == 201 and again.status_code == 201
    assert first.json() == again.json() and again.headers["Idempotent-Replayed"] == "true"
    other = _draft(client, fin, "doc-1", amount="11.00")
    assert other.status_code == 409
    assert other.json()["error"]["details"][0]["field"] == "Idempotency-Key"
    assert _documents(session) == 1


def test_missing_key_is_422(client, session: Session) -> None:
    fin = make_user(session, "finance", "440000")
    body = {"number": "N", "fiscal_year": date.today().year, "amount": "1.00", "fund": FUND}
    r = client.post("/documents/allocations", json=body, headers=fin.headers)
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "validation_failed"
    assert _documents(session) == 0


def test_concurrent_replays_of_one_key_create_one_document(
    client, engine: Engine, session: Session
) -> None:
    fin = make_user(session, "finance", "440000")

    def call(_: int) -> tuple[int, dict]:
        r = _draft(client, fin, "same-key")
        return r.status_code, r.json()

    with ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(call, range(16)))
    assert {s for s, _ in replies} == {201}
    assert len({b["id"] for _, b in replies}) == 1
    assert _documents(session) == 1


def test_the_same_key_of_two_principals_is_two_keys(client, session: Session) -> None:
    a, b = make_user(session, "finance", "440103"), make_user(session, "finance", "440104")
    ra, rb = _draft(client, a, "k"), _draft(client, b, "k")
    assert ra.status_code == rb.status_code == 201
    assert ra.json()["id"] != rb.json()["id"] and "Idempotent-Replayed" not in rb.headers
    assert ra.json()["jurisdiction"] == "440103" and rb.json()["jurisdiction"] == "440104"
