"""Small builders for test data: users with tokens, funded accounts."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from ledger.access import service as access
from ledger.access.service import Principal
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


def released_batch(
    session: Session,
    *,
    county: str,
    fund: str,
    period: str,
    bank: str,
    amounts: list[int],
    maker: str = "maker",
    checker: str = "checker",
) -> int:
    """A batch released the way release does it: draft payouts, one entry, payouts sent."""
    from sqlalchemy import text

    from ledger.domain import release_lines
    from ledger.payouts import batch_root
    from ledger.pii import store_account

    access.create_bank(session, code=bank, name=bank, counties=[county])
    batch = session.execute(
        text(
            "INSERT INTO payment_batch (county_code, fund_code, period, bank_code, created_by, line_count, total_fen) "
            "VALUES (:c, :f, :p, :b, :m, :n, :t) RETURNING id"
        ),
        {
            "c": county,
            "f": fund,
            "p": period,
            "b": bank,
            "m": maker,
            "n": len(amounts),
            "t": sum(amounts),
        },
    ).scalar_one()
    rows = [
        {
            "batch": batch,
            "seq": i + 1,
            "ref": f"T{batch:04d}{i + 1:06d}"[-12:],
            "c": county,
            "f": fund,
            "p": period,
            "pk": f"{batch:032d}{i:032d}",
            "hh": f"H{i}",
            "name": f"张{i}",
            **dict(zip(("ak", "ae", "am"), store_account(f"6222{i:012d}"), strict=True)),
            "bank": bank,
            "amt": amt,
        }
        for i, amt in enumerate(amounts)
    ]
    session.execute(
        text(
            "INSERT INTO payout (batch_id, seq, reference, county_code, fund_code, period, person_key, household_id, "
            "payee_name, account_key, account_enc, account_masked, account_name, bank_code, amount_fen) "
            "VALUES (:batch, :seq, :ref, :c, :f, :p, :pk, :hh, :name, :ak, :ae, :am, :name, :bank, :amt)"
        ),
        rows,
    )
    root = batch_root(session, batch)
    entry = post_entry(
        session,
        kind="batch_release",
        lines=release_lines(county, fund, sum(amounts)),
        created_by=checker,
        payload_digest=root,
        document_type="payment_batch",
        document_id=str(batch),
    )
    session.execute(
        text("UPDATE payout SET state = 'sent', last_entry_id = :e WHERE batch_id = :b"),
        {"e": entry.id, "b": batch},
    )
    session.execute(
        text(
            "UPDATE payment_batch SET status = 'released', merkle_root = :r, release_entry_id = :e, "
            "released_by = :by, released_at = now() WHERE id = :b"
        ),
        {"r": root, "e": entry.id, "by": checker, "b": batch},
    )
    session.commit()
    return int(batch)


def principal_of(session: Session, user: TestUser) -> Principal:
    """The service-level principal of a test user (what the API authenticates it as)."""
    row = session.execute(
        text(
            "SELECT u.id, u.role, b.id AS bureau, b.jurisdiction_code, b.bank_code FROM app_user u "
            "JOIN bureau b ON b.id = u.bureau_id WHERE u.username = :u"
        ),
        {"u": user.username},
    ).one()
    return Principal(
        row.id, user.username, row.role, row.bureau, row.jurisdiction_code, row.bank_code
    )


def finance_pair(session: Session, jurisdiction: str) -> tuple[Principal, Principal]:
    """A maker and a checker of one finance bureau."""
    return (
        principal_of(session, make_user(session, "finance", jurisdiction)),
        principal_of(session, make_user(session, "finance", jurisdiction)),
    )


def posted_document(
    session: Session,
    maker: Principal,
    checker: Principal,
    *,
    amount_fen: int,
    fund: str,
    doc_type: str = "allocation",
    to_jurisdiction: str | None = None,
) -> dict[str, Any]:
    """A document drafted by ``maker`` and approved (posted) by ``checker``, through the services."""
    from ledger.documents import service as documents

    doc = documents.create_document(
        session,
        principal=maker,
        doc_type=doc_type,
        number=f"T-{next(_n)}",
        fiscal_year=date.today().year,
        amount_fen=amount_fen,
        fund=fund,
        to_jurisdiction=to_jurisdiction,
    )
    approved = documents.approve_document(session, principal=checker, document_id=doc["id"])
    session.commit()
    return dict(approved["document"])


def reversed_by_documents(
    session: Session, maker: Principal, checker: Principal, entry_id: int, reason: str = "冲销"
) -> dict[str, Any]:
    """The reversal of ``entry_id``: drafted by ``maker``, approved by ``checker``."""
    from ledger.documents import service as documents

    draft = documents.create_reversal(session, principal=maker, entry_id=entry_id, reason=reason)
    approved = documents.approve_document(session, principal=checker, document_id=draft["id"])
    session.commit()
    return dict(approved["document"])
