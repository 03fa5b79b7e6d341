"""Banks, users and tokens over the API: a province administrator's, through the unit of work."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.factories import make_user


def test_a_province_admin_registers_a_bank_a_user_and_a_token(
    client: Any, session: Session
) -> None:
    admin = make_user(session, "admin", "440000")
    county_admin = make_user(session, "admin", "440103")
    bank = {"code": "ICBCGD", "name": "中国工商银行广东省分行", "counties": ["440103"]}
    assert client.post("/banks", json=bank, headers=county_admin.write()).status_code == 403
    made = client.post("/banks", json=bank, headers=admin.write())
    assert made.status_code == 201 and made.json() == bank
    assert client.get("/banks", headers=admin.headers).json() == [bank]

    user = {"username": "icbc-1", "jurisdiction": "440000", "role": "bank",
            "bureau": "工行广东", "bank_code": "ICBCGD"}  # fmt: skip
    created = client.post("/users", json=user, headers=admin.write())
    assert created.status_code == 201, created.text
    uid = created.json()["id"]
    assert "icbc-1" in [u["username"] for u in client.get("/users", headers=admin.headers).json()]

    key = admin.write()
    issued = client.post(f"/users/{uid}/tokens", json={"days": 7}, headers=key)
    assert issued.status_code == 201 and issued.json()["token"].startswith("lgr_")
    replay = client.post(f"/users/{uid}/tokens", json={"days": 7}, headers=key)
    assert replay.headers.get("Idempotent-Replayed") == "true" and replay.json()["token"] is None
    me = client.get("/me", headers={"Authorization": f"Bearer {issued.json()['token']}"})
    assert me.json()["bank_code"] == "ICBCGD"

    token_id = session.execute(
        text("SELECT max(id) FROM api_token WHERE user_id = :u"), {"u": uid}
    ).scalar_one()
    session.commit()
    assert client.delete(f"/tokens/{token_id}", headers=admin.write()).json() == {"revoked": 1}
    gone = client.get("/me", headers={"Authorization": f"Bearer {issued.json()['token']}"})
    assert gone.status_code == 401
