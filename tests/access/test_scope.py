"""The issue's "done when": scope along the division tree, banks and auditors, token revocation."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from ledger.access import service as access
from tests.factories import fund_chain, make_user

FUND = "urban_minimum_living"


def test_counties_cities_banks_and_auditors_see_what_they_should(
    client: Any, session: Session
) -> None:
    fund_chain(session, FUND, {"440000": 1000, "440100": 600, "440103": 200})
    county = make_user(session, "finance", "440103")
    city_auditor = make_user(session, "auditor", "440100")
    bank = make_user(session, "bank", "440000", bank="ICBCGD")

    def status(user: Any, code: str) -> int:
        return client.get(f"/jurisdictions/{code}/balances", headers=user.headers).status_code

    assert status(county, "440103") == 200
    assert status(county, "440104") == 403 and status(county, "440100") == 403
    assert status(city_auditor, "440103") == 200 and status(city_auditor, "440100") == 200
    assert status(city_auditor, "440303") == 403 and status(city_auditor, "440000") == 403
    assert status(bank, "440103") == 403 and status(bank, "440000") == 403
    assert client.get("/entries/3", headers=bank.headers).status_code == 403
    reversal = client.post("/entries/3/reversal", json={}, headers=city_auditor.write())
    assert reversal.status_code == 403
    assert reversal.json()["error"]["details"][0]["reason"] == "auditors are read-only"


def test_tokens_can_be_revoked_by_user_and_users_listed(client: Any, session: Session) -> None:
    user = make_user(session, "finance", "440103")
    make_user(session, "finance", "440303")
    listed = access.list_users(session, jurisdiction="440100")
    assert [u["username"] for u in listed] == [user.username]
    assert listed[0]["live_tokens"] == 1
    assert client.get("/me", headers=user.headers).json()["jurisdiction"] == "440103"
    assert access.revoke_tokens(session, username=user.username) == 1
    session.commit()
    r = client.get("/me", headers=user.headers)
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthenticated"
    assert access.revoke_tokens(session, username=user.username) == 0
