"""Reads from a streaming replica at a known position of the books.

Reports, exports and fund flows may read from a hot standby (``LEDGER_READ_DATABASE_URL``,
``ledger.db.read_engine``); the books are only ever written on the primary. A read must show at
least the books the primary held when it was asked for: the primary's chain head (seq, hash) is
read first, on the primary, and the replica's snapshot is used only once its own chain head has
reached it — after waiting up to ``LEDGER_READ_MAX_WAIT_SECONDS`` — else the read is refused with
``ReplicaBehind`` (503). The snapshot's session carries the replica's replay position
(``pg_last_wal_replay_lsn()``) in ``info["replay_lsn"]`` for the report record.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from ledger.config import Settings, get_settings
from ledger.db import read_engine
from ledger.errors import ReplicaBehind, ServiceUnavailable

REPLAY_LSN = "replay_lsn"
_POLL_SECONDS = 0.05


def _engine_of(session: Session) -> Engine:
    bind = session.get_bind()
    return bind if isinstance(bind, Engine) else bind.engine


@contextmanager
def read_snapshot(session: Session, *, settings: Settings | None = None) -> Iterator[Session]:
    """A read-only REPEATABLE READ session on its own connection — to the replica when one is
    configured, else to ``session``'s own server: every read in it sees the books as they were
    at its first statement, and never fewer of them than the primary held on entry."""
    settings = settings or get_settings()
    primary = _engine_of(session)
    reader = read_engine(primary, settings)
    if reader is primary:
        with primary.connect() as conn:
            frozen = conn.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
            with Session(bind=frozen) as snap:
                yield snap
        return
    target = session.execute(text("SELECT seq, hash FROM chain_head")).one()
    deadline = time.monotonic() + settings.read_max_wait_seconds
    with reader.connect() as conn:
        frozen = conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        while True:
            with Session(bind=frozen) as snap:
                seen = snap.execute(
                    text("SELECT seq, hash, pg_last_wal_replay_lsn()::text AS lsn FROM chain_head")
                ).one()
                if seen.seq >= target.seq:
                    _same_chain(snap, target.seq, target.hash, seen.seq, seen.hash)
                    snap.info[REPLAY_LSN] = seen.lsn
                    yield snap
                    return
            if time.monotonic() >= deadline:
                raise ReplicaBehind(
                    f"the read replica has replayed the journal to entry {seen.seq} (WAL "
                    f"{seen.lsn}); the primary holds entry {target.seq}: retry shortly",
                    [
                        {
                            "field": "replica",
                            "reason": f"behind the chain head by {target.seq - seen.seq} entries "
                            f"after {settings.read_max_wait_seconds:g} s",
                        }
                    ],
                )
            time.sleep(_POLL_SECONDS)


def _same_chain(snap: Session, seq: int, hash_: str, seen_seq: int, seen_hash: str) -> None:
    """The replica's journal holds the primary's head entry as the primary has it."""
    if seq == 0:
        return
    at = (
        seen_hash
        if seen_seq == seq
        else snap.execute(
            text("SELECT hash FROM journal_entry WHERE id = :id"), {"id": seq}
        ).scalar()
    )
    if at != hash_:
        raise ServiceUnavailable(
            f"the read replica's journal differs from the primary's at entry {seq}: it is not "
            "a replica of these books",
            [{"field": "replica", "reason": "chain head differs from the primary's"}],
        )
