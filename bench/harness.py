"""``python -m bench all``: every case on one PostgreSQL, one results file, one report."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from bench import peers, pgraw, posting, report
from bench.common import Figure
from bench.server import Server, machine, start

ROOT = Path(__file__).resolve().parent.parent
OTHER_PATHS = ("batch_release", "reconcile", "pdf_bench")  # P2, P3, P4, written by their owners

SIZES = {
    "quick": {
        "raw": 300,
        "copy": 20_000,
        "hordak": 60,
        "pyacc": 15,
        "p1": 60,
        "p1_8": 120,
        "http": 60,
        "p6_seconds": 3,
    },
    "full": {
        "raw": 3000,
        "copy": 1_000_000,
        "hordak": 1000,
        "pyacc": 200,
        "p1": 1000,
        "p1_8": 2000,
        "http": 1000,
        "p6_seconds": 30,
    },
}
P6_RATE = 200.0


@dataclass
class Run:
    mode: str
    server: Server
    figures: list[Figure] = field(default_factory=list)
    baselines: list[dict[str, Any]] = field(default_factory=list)  # absolute peer/raw figures
    skipped: list[dict[str, str]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def say(self, msg: str) -> None:
        print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)

    def baseline(self, name: str, n: int, rate: float, peak_mb: float | None = None) -> float:
        self.baselines.append({"name": name, "n": n, "rate": rate, "peak_mb": peak_mb})
        self.say(f"{name}: {rate:,.0f}/s (N={n})")
        return rate

    def skip(self, case: str, reason: str) -> None:
        self.skipped.append({"case": case, "reason": reason})
        self.say(f"SKIPPED {case}: {reason}")


def floor(conninfo: str) -> dict[str, float]:
    """The server's floor: one round trip, and one durable commit, in microseconds."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("CREATE TEMP TABLE floor_probe (i int)")
        for _ in range(50):
            conn.execute("SELECT 1")
        t = time.perf_counter()
        for _ in range(500):
            conn.execute("SELECT 1")
        rtt = (time.perf_counter() - t) / 500 * 1e6
        conn.execute("CREATE TABLE IF NOT EXISTS floor_commit (i int)")
        t = time.perf_counter()
        for i in range(300):
            conn.execute("INSERT INTO floor_commit VALUES (%s)", (i,))
        commit = (time.perf_counter() - t) / 300 * 1e6
    return {"round_trip_us": rtt, "durable_insert_us": commit}


def run_raw(run: Run, size: dict[str, int]) -> dict[str, float]:
    ci = run.server.fresh_database("bench_raw")
    run.extra["floor"] = floor(ci)
    run.say(
        f"server floor: round trip {run.extra['floor']['round_trip_us']:.0f} µs, "
        f"durable one-row commit {run.extra['floor']['durable_insert_us']:.0f} µs"
    )
    n = size["raw"]
    out = {
        "inserts": run.baseline(
            "raw INSERTs, entry + 2 postings per commit", n, pgraw.plain_inserts(ci, n)
        ),
        "cte": run.baseline("raw one-CTE statement per commit", n, pgraw.one_cte(ci, n)),
        "cte8": run.baseline(
            "raw one-CTE per commit, 8 writers", n * 2, pgraw.one_cte(ci, n * 2, 8)
        ),
    }
    entries, rows = pgraw.copy_rows(ci, size["copy"])
    out["copy"] = run.baseline("COPY, entries (entry + 2 postings each)", size["copy"], entries)
    run.extra["copy_rows_per_s"] = rows
    return out


def run_peers(run: Run, size: dict[str, int]) -> dict[str, float]:
    out: dict[str, float] = {}
    run.say("peers: django-hordak (installing into bench/.peers-venv if needed)")
    h = peers.run("hordak", run.server, "bench_hordak", size["hordak"])
    if "skipped" in h:
        run.skip("django-hordak", h["skipped"])
    else:
        out["hordak"] = run.baseline(
            "django-hordak Account.transfer_to, one tx each", h["n"], h["transfer_to"], h["peak_mb"]
        )
        out["hordak_legs"] = run.baseline(
            "django-hordak Transaction + 2 Legs in one atomic",
            h["n"],
            h["transaction_legs"],
            h["peak_mb"],
        )
    run.say("peers: python-accounting")
    a = peers.run("python-accounting", run.server, "bench_pyacc", size["pyacc"])
    if "skipped" in a:
        run.skip("python-accounting", a["skipped"])
    else:
        out["pyacc"] = run.baseline(
            "python-accounting JournalEntry, 1 line item, posted",
            a["n"],
            a["journal_entry"],
            a["peak_mb"],
        )
    return out


def run_p1(run: Run, size: dict[str, int], base: dict[str, float]) -> None:
    run.server.fresh_database("bench_ledger")
    url = run.server.url("bench_ledger")
    posting.prepare(url)
    one = posting.run_service_subprocess(url, size["p1"], 1)
    run.say(f"P1 service, 1 writer: {one['rate']:,.0f} entries/s, peak {one['peak_mb']:.0f} MB")
    eight = posting.run_service_subprocess(url, size["p1_8"], 8)
    run.say(
        f"P1 service, 8 writers: {eight['rate']:,.0f} entries/s, peak {eight['peak_mb']:.0f} MB"
    )
    grouped = {
        spread: posting.run_service_subprocess(url, size["p1_8"], 8, grouped=spread)
        for spread in ("counties", "hot")
    }
    grouped_one = posting.run_service_subprocess(url, size["p1"], 1, grouped="mixed")
    for label, g in (
        ("8 writers across cities", grouped["counties"]),
        ("8 writers, one hot account", grouped["hot"]),
        ("1 writer", grouped_one),
    ):
        run.say(
            f"P1 group posting, {label}: {g['rate']:,.0f} entries/s, "
            f"mean group {g['mean_group']:.1f}"
        )
    names = {
        "hordak": "django-hordak transfer_to",
        "hordak_legs": "django-hordak Transaction + 2 Legs",
        "pyacc": "python-accounting JournalEntry",
        "inserts": "raw INSERTs per commit",
        "cte": "raw one-CTE per commit",
    }
    for key, label in names.items():
        if key in base:
            run.figures.append(
                Figure(
                    "P1 service, 1 writer",
                    one["n"],
                    one["rate"],
                    base[key],
                    label,
                    "items/s",
                    one["peak_mb"],
                )
            )
    for key, label in (("cte8", "raw one-CTE per commit, 8 writers"), ("hordak", names["hordak"])):
        if key in base:
            run.figures.append(
                Figure(
                    "P1 service, 8 writers",
                    eight["n"],
                    eight["rate"],
                    base[key],
                    label,
                    "items/s",
                    eight["peak_mb"],
                )
            )

    for case, g, keys in (
        ("P1 group posting, 8 writers across cities", grouped["counties"], ("hordak", "cte8")),
        ("P1 group posting, 8 writers, one hot account", grouped["hot"], ("hordak", "cte8")),
        ("P1 group posting, 1 writer", grouped_one, ("cte", "hordak")),
    ):
        for key in keys:
            if key in base:
                run.figures.append(
                    Figure(
                        case,
                        g["n"],
                        g["rate"],
                        base[key],
                        names.get(key, "raw one-CTE per commit, 8 writers"),
                        "items/s",
                        g["peak_mb"],
                        f"mean group {g['mean_group']:.1f} entries per transaction",
                    )
                )

    http_n, p6_n = size["http"], int(P6_RATE * size["p6_seconds"])
    run.say(f"HTTP: seeding {2 * (http_n + p6_n)} drafts to approve")
    token, ids = posting.seed_entries(url, 2 * (http_n + p6_n))
    http: dict[str, Any] = {}
    for use_poster, share in ((False, ids[: http_n + p6_n]), (True, ids[http_n + p6_n :])):
        mode = "group posting" if use_poster else "one transaction per write"
        serve = posting.Serve(url, workers=2, group_posting=use_poster)
        try:
            h = posting.http_rate(serve.base, token, share[:http_n], clients=8)
            run.say(f"P1 HTTP, 8 clients, {mode}: {h['rate']:,.0f} entries/s")
            lat = posting.http_latency(serve.base, token, share[http_n:], P6_RATE)
            run.say(
                f"P6 open loop {P6_RATE:.0f}/s for {size['p6_seconds']} s, {mode}: p50 "
                f"{lat['p50_ms']:.1f} ms, p99 {lat['p99_ms']:.1f} ms, achieved "
                f"{lat['achieved_rate']:.0f}/s, errors {lat['errors']}"
            )
            server_mb = serve.peak_mb()
        finally:
            serve.stop()
        http[mode] = {"rate": h, "latency": lat, "server_peak_mb": server_mb}
        for key, label in (
            ("cte8", "raw one-CTE per commit, 8 writers"),
            ("hordak", names["hordak"]),
        ):
            if key in base:
                run.figures.append(
                    Figure(
                        f"P1 HTTP approval, 8 clients, {mode}",
                        h["n"],
                        h["rate"],
                        base[key],
                        label,
                        "items/s",
                        server_mb,
                        "ledger serve --workers 2; peak = one server process",
                    )
                )
        run.figures.append(
            Figure(
                f"P6 HTTP p99 at 200 writes/s, {mode}",
                lat["n"],
                lat["p99_ms"],
                100.0,
                "target p99 ≤ 100 ms",
                "ms",
                server_mb,
                f"p50 {lat['p50_ms']:.1f} ms, max {lat['max_ms']:.0f} ms, achieved "
                f"{lat['achieved_rate']:.0f}/s, {lat['errors']} errors, {size['p6_seconds']} s",
            )
        )
    run.extra["p6"] = http["group posting"]["latency"]
    run.extra["http"] = http
    run.extra["p1"] = {"one": one, "eight": eight, "grouped": {**grouped, "one": grouped_one}}


def _pdf_figure(run: Run) -> Figure:
    rows = 5_000 if run.mode == "quick" else 100_000
    run.say(f"P4: disclosure PDF of {rows:,} rows against the bare canvas")
    out = subprocess.run(
        [sys.executable, "-m", "bench.pdf_case", str(rows)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    r = json.loads(out.stdout.strip().splitlines()[-1])
    fig = Figure(
        f"P4 disclosure PDF, {rows:,} rows",
        rows,
        r["ours"],
        r["canvas"],
        "bare ReportLab canvas, same strings",
        "s",
        r["peak_mb"],
    )
    run.say(f"{fig.case}: {fig.ours:.2f} s vs canvas {fig.baseline:.2f} s")
    return fig


def run_other_paths(run: Run) -> None:
    for name in OTHER_PATHS:
        if not (Path(__file__).parent / f"{name}.py").exists():
            run.skip(f"bench/{name}.py", "not on this branch yet (its owner writes it)")
            continue
        try:
            module = importlib.import_module(f"bench.{name}")
            if not hasattr(module, "cases") and name == "pdf_bench":
                run.figures.append(_pdf_figure(run))
                continue
            dbname = f"bench_{name}"
            run.server.fresh_database(dbname)
            url = run.server.url(dbname)
            posting.prepare(url)
            run.say(f"{name}: running its cases")
            figures = module.cases(url, run.mode == "quick")
            for f in figures:
                run.say(
                    f"{f.case}: ours {f.ours:,.2f} {f.unit}, {f.baseline_name} {f.baseline:,.2f}"
                )
            run.figures.extend(figures)
        except Exception as exc:  # one path's failure must not lose the others' figures
            run.skip(f"bench/{name}.py", f"{type(exc).__name__}: {exc}")
            traceback.print_exc()


def main(mode: str, out: Path | None = None) -> Run:
    server = start()
    settings = server.settings()
    print(
        f"PostgreSQL {settings['server_version']}: synchronous_commit={settings['synchronous_commit']}"
        f" fsync={settings['fsync']} full_page_writes={settings['full_page_writes']}",
        flush=True,
    )
    assert settings["synchronous_commit"] == "on" and settings["fsync"] == "on", (
        "benchmarks run with default durability only"
    )
    run = Run(mode=mode, server=server)
    size = SIZES[mode]
    started = time.perf_counter()
    base = run_raw(run, size)
    base.update(run_peers(run, size))
    run_p1(run, size, base)
    run_other_paths(run)
    run.extra["seconds"] = time.perf_counter() - started
    results = {
        "mode": mode,
        "command": f"python -m bench all --{mode}",
        "machine": machine(),
        "server": settings,
        "figures": [f.as_dict() for f in run.figures],
        "baselines": run.baselines,
        "skipped": run.skipped,
        **run.extra,
    }
    json_path = (out or ROOT / "bench") / "results.json"
    md_path = (out or ROOT / "docs") / "benchmarks.md"
    for p in (json_path, md_path):
        p.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    md_path.write_text(report.render(results))
    run.say(f"done in {run.extra['seconds']:.0f} s: {json_path}, {md_path}")
    return run
