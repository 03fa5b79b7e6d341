"""``python -m bench all --quick|--full``: see docs/benchmarks.md."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument(
        "what",
        choices=["all", "scale", "partitions"],
        help="all: run every case and write the report; scale, partitions: the figures of "
        "docs/scaling.md",
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_const", dest="mode", const="quick")
    size.add_argument("--full", action="store_const", dest="mode", const="full")
    parser.add_argument("--payouts", type=int, default=1_000_000, help="scale: batch size")
    parser.add_argument(
        "--rows",
        type=int,
        default=None,
        help="scale: pruning rows (10 M); partitions: payouts (2 M)",
    )
    parser.add_argument("--db", default=None, help="scale: a server's URL (default embedded)")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="write benchmarks.md and results.json here instead of docs/ and bench/",
    )
    args = parser.parse_args()
    # subprocesses (the service case, ledger serve) must import this checkout
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p
    )
    sys.path.insert(0, str(ROOT))
    if args.what == "scale":
        from bench import scale

        scale.main(args.payouts, args.rows or 10_000_000, args.db)
        return
    if args.what == "partitions":
        from bench import partitions

        partitions.main(args.rows or 2_000_000, args.db)
        return
    from bench import harness

    harness.main(args.mode or "quick", out=args.out)


main()
