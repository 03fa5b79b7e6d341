"""``ledger worker`` runs queued jobs; ``ledger jobs show ID`` follows one with a progress bar."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import text

from ledger.db import get_engine, session_scope
from ledger.jobs.models import ProgressFn

console = Console()
jobs_app = typer.Typer(help="Queued jobs (large imports)")


@contextmanager
def lines_bar(label: str, *, large: bool) -> Iterator[ProgressFn | None]:
    """A progress bar of lines read, for a large file imported inline; None for a small one."""
    if not large:
        yield None
        return
    columns = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=None)

        def progress(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        yield progress


def worker(
    poll: Annotated[float, typer.Option(help="Seconds between looks at an empty queue")] = 1.0,
    once: Annotated[bool, typer.Option(help="Run the queued jobs, then exit")] = False,
) -> None:
    """Run queued jobs, each in one transaction; a job whose worker died is marked failed."""
    from ledger.jobs.service import run_next, run_worker

    engine = get_engine()
    if once:
        while (done := run_next(engine)) is not None:
            console.print(f"job {done[0]}: {done[1]}")
        return
    console.print("worker started; Ctrl-C stops it between jobs")
    try:
        run_worker(engine, poll_seconds=poll, on_done=lambda i, s: console.print(f"job {i}: {s}"))
    except KeyboardInterrupt:
        console.print("worker stopped")


@jobs_app.command("show")
def show(
    job_id: int,
    follow: Annotated[bool, typer.Option(help="Show a progress bar until it finishes")] = True,
) -> None:
    """A job's state and progress; its result or error once finished."""
    sql = text("SELECT state, lines_done, lines_total, result, error FROM job WHERE id = :id")

    def read() -> dict[str, Any]:
        with session_scope() as session:
            row = session.execute(sql, {"id": job_id}).mappings().first()
        if row is None:
            console.print(f"[red]no job {job_id}[/red]")
            raise typer.Exit(2)
        return dict(row)

    row = read()
    if follow:
        label = TextColumn("job {task.fields[job]} {task.fields[state]}")
        columns = (label, BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console) as bar:
            task = bar.add_task("job", total=None, job=job_id, state=row["state"])

            def draw(row: dict[str, Any]) -> None:
                done, total = row["lines_done"], row["lines_total"]
                bar.update(task, completed=done, total=total, state=row["state"])

            while row["state"] in ("queued", "running"):
                draw(row)
                time.sleep(0.5)
                row = read()
            draw(row)
    outcome = row["result"] if row["state"] == "succeeded" else row["error"]
    console.print(f"job {job_id}: {row['state']}")
    print(json.dumps(outcome, ensure_ascii=False, indent=2))
    if row["state"] == "failed":
        raise typer.Exit(1)
