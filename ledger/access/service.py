"""Bureaus, users and API tokens. Tokens are random, shown once, stored only as SHA-256."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from ledger.errors import Conflict, NotFound, Unauthenticated, ValidationFailed
from ledger.jurisdictions.catalog import in_subtree

ROLES = ("finance", "civil_affairs", "bank", "auditor", "admin")
BUREAU_KINDS = ("finance", "civil_affairs", "bank", "audit", "admin")
ROLE_BUREAU = {
    "finance": "finance",
    "civil_affairs": "civil_affairs",
    "bank": "bank",
    "auditor": "audit",
    "admin": "admin",
}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a user of one bureau of one jurisdiction, with one role."""

    user_id: int
    username: str
    role: str
    bureau_id: int
    jurisdiction: str
    bank_code: str | None = None

    def sees(self, jurisdiction: str) -> bool:
        """Scope along the division tree. A bank's scope is its bank code, not a territory."""
        if self.role == "bank":
            return False
        return in_subtree(self.jurisdiction, jurisdiction)


SYSTEM = Principal(0, "system", "admin", 0, "000000")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_bank(
    session: Session, *, code: str, name: str, counties: list[str] | None = None
) -> None:
    session.execute(
        text("INSERT INTO bank (code, name) VALUES (:c, :n) ON CONFLICT (code) DO NOTHING"),
        {"c": code, "n": name},
    )
    for county in counties or []:
        session.execute(
            text(
                "INSERT INTO bank_service_area (bank_code, county_code) VALUES (:b, :c) "
                "ON CONFLICT DO NOTHING"
            ),
            {"b": code, "c": county},
        )


def list_banks(session: Session) -> list[dict[str, Any]]:
    """Every bank with the counties it serves."""
    rows = session.execute(
        text(
            "SELECT b.code, b.name, coalesce(array_agg(a.county_code ORDER BY a.county_code) "
            "FILTER (WHERE a.county_code IS NOT NULL), '{}') AS counties FROM bank b "
            "LEFT JOIN bank_service_area a ON a.bank_code = b.code GROUP BY b.code ORDER BY b.code"
        )
    ).mappings()
    return [{**r, "counties": [c.strip() for c in r["counties"]]} for r in rows]


def add_bank(session: Session, *, code: str, name: str, counties: list[str]) -> dict[str, Any]:
    """Register a bank and the counties it serves (more counties may be added later)."""
    from ledger.jurisdictions.service import get_jurisdiction

    for county in counties:
        get_jurisdiction(session, county)
    create_bank(session, code=code, name=name, counties=counties)
    return next(b for b in list_banks(session) if b["code"] == code)


def create_bureau(
    session: Session, *, jurisdiction: str, kind: str, name: str, bank_code: str | None = None
) -> int:
    if kind not in BUREAU_KINDS:
        raise ValidationFailed(
            f"bureau kind must be one of {', '.join(BUREAU_KINDS)}",
            [{"field": "kind", "reason": "unknown kind"}],
        )
    row = session.execute(
        text(
            "INSERT INTO bureau (jurisdiction_code, kind, name, bank_code) VALUES (:j, :k, :n, :b) "
            "ON CONFLICT (jurisdiction_code, kind, name) DO UPDATE SET name = EXCLUDED.name RETURNING id"
        ),
        {"j": jurisdiction, "k": kind, "n": name, "b": bank_code},
    ).one()
    return int(row[0])


def create_user(
    session: Session, *, username: str, display_name: str, bureau_id: int, role: str
) -> int:
    if role not in ROLES:
        raise ValidationFailed(
            f"role must be one of {', '.join(ROLES)}", [{"field": "role", "reason": "unknown role"}]
        )
    bureau = session.execute(
        text("SELECT kind FROM bureau WHERE id = :b"), {"b": bureau_id}
    ).first()
    if bureau is None:
        raise NotFound(f"bureau {bureau_id} does not exist")
    if ROLE_BUREAU[role] != bureau.kind:
        raise ValidationFailed(
            f"a {role} user cannot belong to a {bureau.kind} bureau",
            [{"field": "role", "reason": "does not match the bureau kind"}],
        )
    exists = session.execute(
        text("SELECT id FROM app_user WHERE username = :u"), {"u": username}
    ).first()
    if exists:
        raise Conflict(f"user {username} already exists")
    row = session.execute(
        text(
            "INSERT INTO app_user (username, display_name, bureau_id, role) VALUES (:u, :d, :b, :r) RETURNING id"
        ),
        {"u": username, "d": display_name, "b": bureau_id, "r": role},
    ).one()
    return int(row[0])


def add_user(
    session: Session,
    *,
    username: str,
    jurisdiction: str,
    role: str,
    bureau: str,
    display_name: str | None = None,
    bank_code: str | None = None,
) -> dict[str, Any]:
    """A user of a bureau (the bureau is made when new); answers the user as ``list_users``."""
    from ledger.jurisdictions.service import get_jurisdiction

    get_jurisdiction(session, jurisdiction)
    kind = ROLE_BUREAU.get(role)
    if kind is None:
        raise ValidationFailed(
            f"role must be one of {', '.join(ROLES)}", [{"field": "role", "reason": "unknown role"}]
        )
    if (role == "bank") != (bank_code is not None):
        raise ValidationFailed(
            "a bank user names its bank, and only a bank user does",
            [{"field": "bank_code", "reason": "required for bank users only"}],
        )
    if (
        bank_code is not None
        and not session.execute(
            text("SELECT 1 FROM bank WHERE code = :c"), {"c": bank_code}
        ).first()
    ):
        raise NotFound(
            f"no bank {bank_code}", [{"field": "bank_code", "reason": "register it first"}]
        )
    bureau_id = create_bureau(
        session, jurisdiction=jurisdiction, kind=kind, name=bureau, bank_code=bank_code
    )
    uid = create_user(
        session,
        username=username,
        display_name=display_name or username,
        bureau_id=bureau_id,
        role=role,
    )
    return next(u for u in list_users(session) if u["id"] == uid)


def issue_token(session: Session, *, user_id: int, days: int = 30, label: str = "") -> str:
    token = "lgr_" + secrets.token_urlsafe(32)
    session.execute(
        text(
            "INSERT INTO api_token (user_id, token_hash, label, expires_at) VALUES (:u, :h, :l, :e)"
        ),
        {
            "u": user_id,
            "h": hash_token(token),
            "l": label,
            "e": datetime.now(UTC) + timedelta(days=days),
        },
    )
    return token


def revoke_token(session: Session, *, token: str) -> bool:
    return bool(revoke_tokens(session, token=token))


def revoke_tokens(
    session: Session,
    *,
    token: str | None = None,
    token_id: int | None = None,
    username: str | None = None,
) -> int:
    """Revoke one token (by its value or id) or every live token of a user; returns how many."""
    if (token, token_id, username).count(None) != 2:
        raise ValidationFailed(
            "name exactly one of: token, token id, username",
            [{"field": "token", "reason": "exactly one selector is required"}],
        )
    rows = session.execute(
        text(
            "UPDATE api_token t SET revoked_at = now() FROM app_user u WHERE u.id = t.user_id "
            "AND t.revoked_at IS NULL AND (t.token_hash = :h OR t.id = :i OR u.username = :u) "
            "RETURNING t.id"
        ),
        {"h": hash_token(token) if token else None, "i": token_id, "u": username},
    ).all()
    return len(rows)


def list_users(session: Session, *, jurisdiction: str | None = None) -> list[dict[str, Any]]:
    """Users with their bureau and how many live tokens they hold; optionally one subtree."""
    rows = (
        session.execute(
            text(
                "SELECT u.id, u.username, u.display_name, u.role, u.active, b.id AS bureau_id, "
                "b.name AS bureau, b.kind AS bureau_kind, b.jurisdiction_code AS jurisdiction, "
                "b.bank_code, (SELECT count(*) FROM api_token t WHERE t.user_id = u.id "
                "AND t.revoked_at IS NULL AND t.expires_at > now()) AS live_tokens "
                "FROM app_user u JOIN bureau b ON b.id = u.bureau_id ORDER BY b.jurisdiction_code, "
                "b.kind, u.username"
            )
        )
        .mappings()
        .all()
    )
    return [
        dict(r)
        for r in rows
        if jurisdiction is None or in_subtree(jurisdiction, r["jurisdiction"].strip())
    ]


def principal_of(session: Session, username: str) -> Principal:
    """The principal a command acts as (``ledger --as USERNAME``); a disabled user is refused."""
    row = session.execute(
        text(
            "SELECT u.id, u.username, u.role, u.active, b.id AS bureau_id, b.jurisdiction_code, "
            "b.bank_code FROM app_user u JOIN bureau b ON b.id = u.bureau_id WHERE u.username = :u"
        ),
        {"u": username},
    ).first()
    if row is None:
        raise NotFound(f"no user {username}", [{"field": "--as", "reason": "unknown user"}])
    if not row.active:
        raise Unauthenticated(
            f"user {username} is disabled", [{"field": "--as", "reason": "disabled user"}]
        )
    return Principal(
        row.id, row.username, row.role, row.bureau_id, row.jurisdiction_code.strip(), row.bank_code
    )


def authenticate(session: Session, token: str) -> Principal:
    row = session.execute(
        text(
            "SELECT u.id, u.username, u.role, u.active, b.id AS bureau_id, b.jurisdiction_code, b.bank_code, "
            "t.expires_at, t.revoked_at FROM api_token t JOIN app_user u ON u.id = t.user_id "
            "JOIN bureau b ON b.id = u.bureau_id WHERE t.token_hash = :h"
        ),
        {"h": hash_token(token)},
    ).first()
    if row is None:
        raise Unauthenticated("unknown token")
    if row.revoked_at is not None:
        raise Unauthenticated("the token was revoked")
    if row.expires_at <= datetime.now(UTC):
        raise Unauthenticated("the token has expired")
    if not row.active:
        raise Unauthenticated("the user is disabled")
    return Principal(
        row.id, row.username, row.role, row.bureau_id, row.jurisdiction_code, row.bank_code
    )
