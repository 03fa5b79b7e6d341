"""Running ``ledger`` in a subprocess, as a user does."""

from __future__ import annotations

import os
import subprocess
import sys

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
