"""Uploads are authorised before the file is read: a refusal is a 403, never a 422."""

from __future__ import annotations

from sqlalchemy.orm import Session

from tests.factories import make_user


def test_register_outside_scope_is_403_before_the_file_is_read(client, session: Session) -> None:
    county = make_user(session, "civil_affairs", "440103")
    r = client.post("/registers/deaths", params={"jurisdiction": "440104"}, headers=county.write())
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"


def test_roster_by_wrong_role_is_403_without_a_file(client, session: Session) -> None:
    finance = make_user(session, "finance", "440103")
    r = client.post("/counties/440103/roster", headers=finance.write())
    assert r.status_code == 403
    other = make_user(session, "civil_affairs", "440104")
    assert client.post("/counties/440103/roster", headers=other.write()).status_code == 403
