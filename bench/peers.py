"""The peers, installed into their own virtualenv (bench/.peers-venv), never the project's.

Each peer runs as a subprocess of that venv's Python against its own fresh database on the same
server, and prints one JSON line. A peer that cannot be installed or run is skipped with the
reason printed and recorded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.server import Server

HERE = Path(__file__).resolve().parent
VENV = HERE / ".peers-venv"
PY = VENV / "bin" / "python"

# (label, pip arguments); python-accounting declares mysqlclient, which does not build here
INSTALLS: dict[str, list[list[str]]] = {
    "hordak": [["django-hordak>=2,<3", "psycopg2-binary"]],
    "python-accounting": [
        ["--no-deps", "python-accounting>=2,<3"],
        ["psycopg2-binary", "SQLAlchemy<2.2", "python-dateutil<3"],
    ],
}
PROBES = {"hordak": "import hordak, django", "python-accounting": "import python_accounting"}


def _pip(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PY), "-m", "pip", "install", "-q", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
    )


def ensure(peer: str) -> str | None:
    """Install ``peer`` if its import fails; returns the reason it is unavailable, or None."""
    if not PY.exists():
        made = subprocess.run(
            [sys.executable, "-m", "venv", str(VENV)], capture_output=True, text=True
        )
        if made.returncode:
            return f"python -m venv failed: {made.stderr.strip()[-300:]}"
    probe = subprocess.run([str(PY), "-c", PROBES[peer]], capture_output=True)
    if probe.returncode == 0:
        return None
    for args in INSTALLS[peer]:
        done = _pip(args)
        if done.returncode:
            return f"pip install {' '.join(args)} failed: {done.stderr.strip()[-300:]}"
    return None


def run(peer: str, server: Server, dbname: str, n: int, timeout: float = 900) -> dict[str, Any]:
    """Figures of ``peer`` for ``n`` entries, or ``{"skipped": reason}``."""
    reason = ensure(peer)
    if reason:
        return {"skipped": reason}
    server.fresh_database(dbname)
    script = {"hordak": "peer_hordak.py", "python-accounting": "peer_accounting.py"}[peer]
    env = {
        **os.environ,
        "BENCH_PG_HOST": server.host,
        "BENCH_PG_PORT": str(server.port),
        "BENCH_PG_USER": server.user,
        "BENCH_PG_PASSWORD": server.password,
        "BENCH_PG_DBNAME": dbname,
    }
    env.pop("PYTHONPATH", None)
    try:
        out = subprocess.run(
            [str(PY), str(HERE / script), str(n)],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return {"skipped": f"{peer} did not finish {n} entries within {timeout:.0f} s"}
    if out.returncode:
        return {"skipped": f"{peer} failed: {out.stderr.strip()[-400:]}"}
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))
