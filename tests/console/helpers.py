"""Console logins for tests: a password set through the same service the CLI uses, then the
login form as a browser posts it."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy.orm import Session

from ledger.access import service as access
from ledger.access.sessions import set_password
from tests.factories import TestUser

PASSWORD = "test-console-pass"


def with_password(session: Session, user: TestUser) -> TestUser:
    set_password(session, username=user.username, password=PASSWORD)
    session.commit()
    return user


def other_bank_user(session: Session, code: str = "RCCGD") -> TestUser:
    """A user of another bank (make_user would reuse the first bank's bureau of the province)."""
    access.create_bank(session, code=code, name=f"{code} 银行", counties=[])
    bureau = access.create_bureau(
        session, jurisdiction="440000", kind="bank", name=f"{code} 银行", bank_code=code
    )
    name = f"teller-{code.lower()}"
    uid = access.create_user(
        session, username=name, display_name=name, bureau_id=bureau, role="bank"
    )
    token = access.issue_token(session, user_id=uid)
    session.commit()
    return TestUser(name, token, "bank", "440000")


def hidden(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, f"no hidden {name} in the page"
    return found.group(1)


def login(client: Any, user: TestUser) -> Any:
    page = client.get("/login")
    answer = client.post(
        "/login",
        data={
            "username": user.username,
            "password": PASSWORD,
            "csrf_token": hidden(page.text, "csrf_token"),
            "next": "/",
        },
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return answer
