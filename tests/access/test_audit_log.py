"""Every write and attempted write leaves exactly one audit_log row, which nobody can change."""

from __future__ import annotations

from datetime import date
from typing import Any

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.factories import make_user

FUND = "urban_minimum_living"


def _rows(session: Session) -> list[Any]:
    session.rollback()  # a fresh snapshot: the middleware commits on its own connection
    return list(
        session.execute(
            text(
                "SELECT username, role, bureau_id, action, object_type, object_id, request_id, "
                "client_addr, outcome, status_code, detail FROM audit_log ORDER BY id"
            )
        )
    )


def test_each_write_is_recorded_once_with_its_outcome(client: Any, session: Session) -> None:
    maker, checker = (
        make_user(session, "finance", "440000"),
        make_user(session, "finance", "440000"),
    )
    auditor = make_user(session, "auditor", "440000")
    body = {"number": "A1", "fiscal_year": date.today().year, "amount": "10.00", "fund": FUND}
    calls = [
        ("accepted", 201, maker.write(), body),
        ("refused", 401, {}, body),
        ("refused", 403, auditor.write(), body),
        ("refused", 409, maker.write(), body),  # the number is taken
        ("refused", 422, maker.write(), {**body, "amount": "ten"}),
    ]
    ids = []
    for _outcome, status, headers, payload in calls:
        r = client.post("/documents/allocations", json=payload, headers=headers)
        assert r.status_code == status, r.text
        ids.append(r.headers["X-Request-ID"])
    doc_id = client.get("/jurisdictions/440000/documents", headers=maker.headers).json()[0]["id"]
    r = client.post(f"/documents/{doc_id}/approval", headers=maker.write())
    assert r.status_code == 403
    ids.append(r.headers["X-Request-ID"])
    r = client.post(f"/documents/{doc_id}/approval", headers=checker.write())
    assert r.status_code == 200
    ids.append(r.headers["X-Request-ID"])
    client.get("/jurisdictions/440000/documents", headers=maker.headers)  # reads are not logged

    rows = _rows(session)
    assert [r.request_id for r in rows] == ids  # once each, in order
    assert [(r.outcome, r.status_code) for r in rows] == [
        *[(o, s) for o, s, _h, _b in calls],
        ("refused", 403),
        ("accepted", 200),
    ]
    assert rows[0].username == maker.username and rows[0].role == "finance"
    assert rows[0].action == "create_allocation" and rows[0].object_id == str(doc_id)
    assert rows[0].object_type == "fund_document" and rows[0].client_addr
    assert rows[1].username is None  # no token, no user
    assert rows[2].role == "auditor"
    assert rows[5].action == rows[6].action == "approve"
    assert rows[6].object_id == str(doc_id) and rows[6].username == checker.username
    assert rows[0].detail["idempotency_key"] == calls[0][2]["Idempotency-Key"]


def test_unmatched_and_replayed_writes_are_recorded(client: Any, session: Session) -> None:
    user = make_user(session, "finance", "440000")
    assert client.post("/no-such-route", headers=user.write()).status_code == 404
    headers = user.write()
    body = {"memo": "x"}
    client.post("/entries/999/reversal", json=body, headers=headers)
    rows = _rows(session)
    assert [r.action for r in rows] == ["POST /no-such-route", "reverse"]
    assert rows[1].outcome == "refused" and rows[1].object_id == "999"


def test_the_audit_log_is_read_by_auditors_in_scope(client: Any, session: Session) -> None:
    county = make_user(session, "finance", "440103")
    other = make_user(session, "finance", "440303")
    city_auditor = make_user(session, "auditor", "440100")
    for u in (county, other):
        client.post("/periods/close", json={"period": "202001"}, headers=u.write())
    seen = client.get("/jurisdictions/440100/audit-log", headers=city_auditor.headers).json()
    assert [r["username"] for r in seen] == [county.username]
    assert seen[0]["outcome"] == "refused" and seen[0]["jurisdiction"] == "440103"
    assert (
        client.get("/jurisdictions/440000/audit-log", headers=city_auditor.headers).status_code
        == 403
    )
    assert client.get("/jurisdictions/440100/audit-log", headers=county.headers).status_code == 403


@pytest.mark.parametrize(
    "statement",
    ["UPDATE audit_log SET outcome = 'accepted'", "DELETE FROM audit_log", "TRUNCATE audit_log"],
)
def test_the_database_refuses_to_change_the_audit_log(
    client: Any, session: Session, db_url: str, statement: str
) -> None:
    user = make_user(session, "finance", "440103")
    client.post("/periods/close", json={"period": "202001"}, headers=user.write())
    assert len(_rows(session)) == 1
    session.rollback()  # release the read lock TRUNCATE would wait for
    raw_url = db_url.replace("postgresql+psycopg://", "postgresql://")
    with (
        psycopg.connect(raw_url) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"),
    ):
        conn.execute(statement)
    assert _rows(session)[0].outcome == "refused"
