"""A worker whose process dies: its connection goes, and the server ends its backend — and with
it the job's advisory lock — on its own time, not at once."""

from __future__ import annotations

import time

from sqlalchemy import Connection, Engine, text


def kill_worker_connection(engine: Engine, connection: Connection, timeout: float = 15) -> None:
    """Drop ``connection`` as a dead process would, and wait until its backend has ended."""
    pid = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
    connection.invalidate()
    deadline = time.monotonic() + timeout
    alive = text("SELECT count(*) FROM pg_stat_activity WHERE pid = :p")
    # Each look in its own transaction: a transaction sees one snapshot of pg_stat_activity.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        while c.execute(alive, {"p": pid}).scalar_one():
            assert time.monotonic() < deadline, f"backend {pid} still alive after {timeout} s"
            time.sleep(0.02)
