"""The embedded server's life: a one-shot command that started it stops it; `db start` holds it
until `db stop`."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.run import ledger


def test_one_shot_command_stops_the_server_it_started(tmp_path: Path) -> None:
    env = {"LEDGER_DATA_DIR": str(tmp_path)}
    seeded = ledger("seed", "--json", env=env)
    assert seeded.returncode == 0, seeded.stderr
    assert json.loads(seeded.stdout)["funds"] > 0
    status = json.loads(ledger("db", "status", "--json", env=env).stdout)
    assert status["embedded"] and status["running"] is False

    started = json.loads(ledger("db", "start", "--json", env=env).stdout)
    assert started["running"] and started["held"]
    listed = ledger("users", "list", env=env)  # finds it running: leaves it running
    assert listed.returncode == 0, listed.stderr

    stopped = ledger("db", "stop", env=env)
    assert stopped.returncode == 0 and "embedded PostgreSQL stopped" in stopped.stderr
    status = json.loads(ledger("db", "status", "--json", env=env).stdout)
    assert status["running"] is False and status["held"] is False
