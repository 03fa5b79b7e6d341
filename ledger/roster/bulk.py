"""Transaction helpers for bulk writers: COPY through the session, and once-per-key work."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy.orm import Session

from ledger.journal import idempotency


def copy_rows(
    session: Session, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """Stream ``rows`` into ``table`` with COPY: bounded memory, no per-row statements."""
    raw = session.connection().connection.driver_connection
    assert raw is not None
    with raw.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def run_once(
    session: Session,
    *,
    key: str | None,
    operation: str,
    body: Any,
    work: Callable[[], dict[str, Any]],
) -> dict[str, Any]:
    """Do ``work`` and commit, once per idempotency key: a replay returns the first result.

    The key is claimed inside the same transaction as the work, so both commit or neither does.
    """
    if key is not None:
        stored = idempotency.claim(session, key=key, operation=operation, body=body)
        if stored is not None:
            return stored
    result = work()
    if key is not None:
        idempotency.record(session, key=key, response=result)
    session.commit()
    return result
