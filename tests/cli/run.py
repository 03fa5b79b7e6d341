"""Running ``ledger``: in a subprocess, as a user does, or in-process on a test database."""

from __future__ import annotations

import os
import subprocess
import sys

from typer.testing import CliRunner, Result

from tests.conftest import ROOT


def ledger(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    return subprocess.run(
        [sys.executable, "-m", "ledger", *args],
        env={**base, "PYTHONPATH": str(ROOT), "COLUMNS": "200", **env},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


class CliRunnerOn:
    def __call__(self, *args: str) -> Result:
        from ledger.main import cli

        return CliRunner().invoke(cli, list(args))
