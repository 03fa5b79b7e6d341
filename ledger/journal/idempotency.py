"""Idempotency keys: a replay returns the first result; the same key with another body is a 409.

The key row is inserted first, inside the caller's transaction: a concurrent replay of the same
key blocks on the unique index until the first commits (then reads its result) or rolls back
(then proceeds itself). So concurrent replays create one result.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from ledger.errors import Conflict, ValidationFailed


def request_hash(operation: str, body: Any) -> str:
    data = json.dumps(
        [operation, body], sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )
    return hashlib.sha256(data.encode()).hexdigest()


def claim(session: Session, *, key: str, operation: str, body: Any) -> dict[str, Any] | None:
    """Claim ``key`` for this request; return the stored response if it was already served."""
    if not key or len(key) > 200:
        raise ValidationFailed(
            "an Idempotency-Key of 1 to 200 characters is required for every write",
            [{"field": "Idempotency-Key", "reason": "missing or too long"}],
        )
    digest = request_hash(operation, body)
    inserted = session.execute(
        text(
            "INSERT INTO idempotency_record (key, operation, request_hash) VALUES (:k, :op, :h) "
            "ON CONFLICT (key) DO NOTHING RETURNING key"
        ),
        {"k": key, "op": operation, "h": digest},
    ).first()
    if inserted:
        return None
    row = session.execute(
        text("SELECT operation, request_hash, response FROM idempotency_record WHERE key = :k"),
        {"k": key},
    ).one()
    if row.operation != operation or row.request_hash != digest:
        raise Conflict(
            f"idempotency key {key!r} was already used for a different request",
            [{"field": "Idempotency-Key", "reason": "reused with another operation or body"}],
        )
    return dict(row.response or {})


def record(session: Session, *, key: str, response: dict[str, Any], status_code: int = 200) -> None:
    session.execute(
        text(
            "UPDATE idempotency_record SET response = CAST(:r AS jsonb), status_code = :s WHERE key = :k"
        ),
        {"k": key, "r": json.dumps(response, ensure_ascii=False, default=str), "s": status_code},
    )
