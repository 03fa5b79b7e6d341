"""Idempotency keys: a replay returns the first answer; the same key with another body is a 409.

A key belongs to the principal that sent it: the record is keyed on (principal, operation, key),
so two bureaus may use the same key and neither ever sees the other's answer or learns that the
key exists. The key row is inserted first, inside the unit of work's transaction: a concurrent
replay of the same key blocks on the primary key until the first commits (then reads its answer)
or rolls back (then proceeds itself). So concurrent replays create one result.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from ledger.errors import Conflict, ValidationFailed


@dataclass(frozen=True)
class StoredAnswer:
    response: dict[str, Any]
    status_code: int


def request_hash(operation: str, body: Any) -> str:
    data = json.dumps(
        [operation, body], sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )
    return hashlib.sha256(data.encode()).hexdigest()


def claim(
    session: Session, *, principal: str, key: str, operation: str, body: Any
) -> StoredAnswer | None:
    """Claim ``key`` of ``principal`` for this request; return the first answer of a replay."""
    if not key or len(key) > 200:
        raise ValidationFailed(
            "an Idempotency-Key of 1 to 200 characters is required for every write",
            [{"field": "Idempotency-Key", "reason": "missing or too long"}],
        )
    digest = request_hash(operation, body)
    params = {"p": principal, "k": key, "op": operation, "h": digest}
    inserted = session.execute(
        text(
            "INSERT INTO idempotency_record (principal, key, operation, request_hash) "
            "VALUES (:p, :k, :op, :h) ON CONFLICT (principal, operation, key) DO NOTHING "
            "RETURNING key"
        ),
        params,
    ).first()
    if inserted:
        return None
    row = session.execute(
        text(
            "SELECT request_hash, response, status_code FROM idempotency_record "
            "WHERE principal = :p AND operation = :op AND key = :k"
        ),
        params,
    ).one()
    if row.request_hash != digest:
        raise Conflict(
            f"idempotency key {key!r} was already used for a different request",
            [{"field": "Idempotency-Key", "reason": "reused with another body"}],
        )
    return StoredAnswer(dict(row.response or {}), int(row.status_code or 200))


def record(
    session: Session,
    *,
    principal: str,
    key: str,
    operation: str,
    response: dict[str, Any],
    status_code: int = 200,
) -> None:
    session.execute(
        text(
            "UPDATE idempotency_record SET response = CAST(:r AS jsonb), status_code = :s "
            "WHERE principal = :p AND operation = :op AND key = :k"
        ),
        {
            "p": principal,
            "op": operation,
            "k": key,
            "r": json.dumps(response, ensure_ascii=False, default=str),
            "s": status_code,
        },
    )
