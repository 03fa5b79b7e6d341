"""Small builders for test data: users with tokens, funded accounts."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from sqlalchemy.orm import Session

from ledger.access import service as access
from ledger.domain import allocation_lines, transfer_lines
from ledger.journal.service import post_entry

_n = itertools.count(1)


@dataclass
class TestUser:
    username: str
    token: str
    role: str
    jurisdiction: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def write(self, key: str | None = None) -> dict[str, str]:
        return {**self.headers, "Idempotency-Key": key or f"k-{next(_n)}-{self.username}"}


def make_user(
    session: Session, role: str, jurisdiction: str, *, bank: str | None = None
) -> TestUser:
    kind = access.ROLE_BUREAU[role]
    if bank:
        access.create_bank(session, code=bank, name=f"{bank} bank", counties=[])
    bureau = access.create_bureau(
        session, jurisdiction=jurisdiction, kind=kind, name=f"{jurisdiction}-{kind}", bank_code=bank
    )
    name = f"u{next(_n)}-{role}".replace("_", "")
    uid = access.create_user(session, username=name, display_name=name, bureau_id=bureau, role=role)
    token = access.issue_token(session, user_id=uid)
    session.commit()
    return TestUser(name, token, role, jurisdiction)


def fund_chain(session: Session, fund: str, amounts: dict[str, int]) -> None:
    """Allocate at the province and push money down: ``{"440000": a, "440100": b, "440103": c}``."""
    codes = sorted(
        amounts, key=lambda c: (c.endswith("0000") is False, c.endswith("00") is False, c)
    )
    post_entry(
        session,
        kind="allocation",
        lines=allocation_lines(codes[0], fund, amounts[codes[0]]),
        created_by="test",
    )
    for parent, child in itertools.pairwise(codes):
        post_entry(
            session,
            kind="transfer",
            lines=transfer_lines(parent, child, fund, amounts[child]),
            created_by="test",
        )
    session.commit()
