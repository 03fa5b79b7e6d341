"""P2 and P3 of an earlier checkout against this one, side by side, alternately.

    git worktree add --detach ../before 67dfe46
    python -m bench.settle_schema --before ../before [--n 100000] [--rounds 2]

Each round builds and releases an N-payout batch (``bench.batch_release``) and reconciles an
N-line return file (``bench.reconcile``) with the code and schema of ``--before`` and with this
checkout's (before first in odd rounds, this one first in even rounds), each case in a fresh
interpreter on a fresh database of one embedded server. Every case carries the baselines
measured in the same case: COPY of the pre-built rows for P2, COPY of the file and the parse +
hash + COPY floor for P3.

Prints one JSON line per case.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from bench import server

HERE = Path(__file__).resolve().parent.parent
CASE = (
    "import json, sys\n"
    "from bench import {module}\n"
    "for f in {module}.cases(sys.argv[1], False, int(sys.argv[2])):\n"
    "    print(json.dumps(f.as_dict(), ensure_ascii=False))\n"
)


def run_case(tree: Path, module: str, url: str, n: int) -> list[dict[str, object]]:
    """``module.cases`` of the checkout at ``tree``, in a fresh interpreter of this venv."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run(
        [sys.executable, "-c", CASE.format(module=module), url, str(n)],
        cwd=tree,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.settle_schema")
    parser.add_argument("--before", required=True, type=Path, help="an earlier checkout")
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    srv = server.start()
    trees = [("before", args.before.resolve()), ("after", HERE)]
    for rnd in range(1, args.rounds + 1):
        for name, tree in trees if rnd % 2 else trees[::-1]:
            for module in ("batch_release", "reconcile"):
                dbname = f"settle_schema_{module}_{name}_{rnd}"
                srv.fresh_database(dbname)
                for fig in run_case(tree, module, srv.url(dbname), args.n):
                    print(json.dumps({"round": rnd, "tree": name} | fig, ensure_ascii=False))
                    sys.stdout.flush()


if __name__ == "__main__":
    main()
