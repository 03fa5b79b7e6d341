"""Console logins: argon2 password hashes and server-side web sessions (the cookie carries a
random token; only its SHA-256 is stored, as for API tokens), each with its CSRF token."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import text
from sqlalchemy.orm import Session

from ledger.access.service import Principal, hash_token
from ledger.errors import NotFound, Unauthenticated, ValidationFailed

_hasher = PasswordHasher()
MIN_PASSWORD = 10
# Verified against when the user is unknown, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("not-a-password-of-anyone")


@dataclass(frozen=True)
class WebSession:
    """A live console session: who, and the CSRF token its forms must carry."""

    principal: Principal
    csrf_token: str
    expires_at: datetime


def set_password(session: Session, *, username: str, password: str) -> dict[str, object]:
    if len(password) < MIN_PASSWORD:
        raise ValidationFailed(
            f"a password has at least {MIN_PASSWORD} characters",
            [{"field": "password", "reason": "too short"}],
        )
    row = session.execute(
        text("UPDATE app_user SET password_hash = :h WHERE username = :u RETURNING id"),
        {"h": _hasher.hash(password), "u": username},
    ).first()
    if row is None:
        raise NotFound(
            f"user {username} does not exist", [{"field": "username", "reason": "unknown"}]
        )
    # A new password ends the user's console sessions.
    session.execute(
        text("UPDATE web_session SET ended_at = now() WHERE user_id = :u AND ended_at IS NULL"),
        {"u": row.id},
    )
    return {"user_id": int(row.id), "username": username}


def _principal_sql(where: str) -> str:
    return (
        "SELECT u.id, u.username, u.role, u.active, u.password_hash, b.id AS bureau_id, "
        "b.jurisdiction_code, b.bank_code FROM app_user u JOIN bureau b ON b.id = u.bureau_id "
        f"WHERE {where}"
    )


def _principal(row: object) -> Principal:
    return Principal(
        row.id,  # type: ignore[attr-defined]
        row.username,  # type: ignore[attr-defined]
        row.role,  # type: ignore[attr-defined]
        row.bureau_id,  # type: ignore[attr-defined]
        row.jurisdiction_code,  # type: ignore[attr-defined]
        row.bank_code,  # type: ignore[attr-defined]
    )


def check_password(session: Session, *, username: str, password: str) -> Principal:
    """The user, if the password is theirs; one refusal for every reason (no user enumeration)."""
    row = session.execute(text(_principal_sql("u.username = :u")), {"u": username}).first()
    try:
        _hasher.verify(row.password_hash if row and row.password_hash else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        row = None
    if row is None or not row.password_hash or not row.active:
        raise Unauthenticated("用户名或密码不正确")
    return _principal(row)


def start_session(
    session: Session, *, principal: Principal, minutes: int, client_addr: str | None = None
) -> tuple[str, WebSession]:
    """A new session: the cookie's token (shown once) and the session."""
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    expires = datetime.now(UTC) + timedelta(minutes=minutes)
    session.execute(
        text(
            "INSERT INTO web_session (token_hash, user_id, csrf_token, client_addr, expires_at) "
            "VALUES (:h, :u, :c, :a, :e)"
        ),
        {"h": hash_token(token), "u": principal.user_id, "c": csrf, "a": client_addr, "e": expires},
    )
    return token, WebSession(principal, csrf, expires)


def session_of(session: Session, token: str) -> WebSession:
    row = session.execute(
        text(
            _principal_sql("s.token_hash = :h")
            .replace("FROM app_user u", "FROM web_session s JOIN app_user u ON u.id = s.user_id")
            .replace("SELECT ", "SELECT s.csrf_token, s.expires_at, s.ended_at, ", 1)
        ),
        {"h": hash_token(token)},
    ).first()
    if row is None or row.ended_at is not None:
        raise Unauthenticated("请先登录")
    if row.expires_at <= datetime.now(UTC):
        raise Unauthenticated("登录已过期，请重新登录")
    if not row.active:
        raise Unauthenticated("该用户已停用")
    return WebSession(_principal(row), row.csrf_token, row.expires_at)


def end_session(session: Session, token: str) -> None:
    session.execute(
        text("UPDATE web_session SET ended_at = now() WHERE token_hash = :h AND ended_at IS NULL"),
        {"h": hash_token(token)},
    )
