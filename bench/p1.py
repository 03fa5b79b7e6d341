"""P1 side by side: ``python -m bench.p1 [--n N] [--rounds R]``.

Each round runs, on one server and interleaved, the raw one-CTE baselines (1 and 8 writers),
django-hordak's ``transfer_to`` (one writer), our service with one transaction per entry (1 and
8 writers) and the group poster (1 writer; 8 writers across cities; 8 and 16 writers on the
province's one hot special account). Prints the server's floor first, then one JSON line per
round (entries per second; ``*_group``: mean entries per transaction).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.p1")
    parser.add_argument("--n", type=int, default=400, help="entries per writer count")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p
    )
    from bench import peers, pgraw, posting
    from bench.harness import floor
    from bench.server import start

    server = start()
    raw = server.fresh_database("bench_p1_raw")
    print(json.dumps({"floor": floor(raw)}), flush=True)
    server.fresh_database("bench_p1_ledger")
    url = server.url("bench_p1_ledger")
    posting.prepare(url)
    n = args.n
    for _ in range(args.rounds):
        out: dict[str, float] = {
            "raw_cte_1": pgraw.one_cte(raw, n),
            "raw_cte_8": pgraw.one_cte(raw, n * 2, 8),
        }
        hordak = peers.run("hordak", server, "bench_p1_hordak", n)
        if "transfer_to" in hordak:
            out["hordak_1"] = hordak["transfer_to"]
        out["service_1"] = posting.run_service_subprocess(url, n, 1)["rate"]
        out["service_8"] = posting.run_service_subprocess(url, n * 2, 8)["rate"]
        for label, writers, spread in (
            ("grouped_1", 1, "mixed"),
            ("grouped_8_counties", 8, "counties"),
            ("grouped_8_hot", 8, "hot"),
            ("grouped_16_hot", 16, "hot"),
        ):
            g = posting.run_service_subprocess(url, n * max(1, writers // 4), writers, spread)
            out[label], out[f"{label}_group"] = g["rate"], g["mean_group"]
        print(json.dumps({k: round(v, 1) for k, v in out.items()}), flush=True)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
