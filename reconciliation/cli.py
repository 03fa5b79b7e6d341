"""``ledger reconcile``: import a bank's return file or statement from the command line."""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from ledger.config import get_settings
from ledger.db import get_engine
from ledger.errors import DomainError
from ledger.jobs.cli import lines_bar
from ledger.jobs.models import ProgressFn
from ledger.uow import operator_write
from reconciliation import service

console = Console(stderr=True)
app = typer.Typer(help="Bank return files and statements (回盘, pain.002, camt.054, camt.053)")


@app.command("import")
def import_file(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    bank: Annotated[str | None, typer.Option(help="Bank code; default: told from the file")] = None,
    batch: Annotated[int | None, typer.Option(help="The batch the file answers")] = None,
    county: Annotated[str | None, typer.Option(help="camt.053: county of the account")] = None,
    fund: Annotated[str | None, typer.Option(help="camt.053: fund of the account")] = None,
    user: Annotated[str | None, typer.Option(help="Recorded as the uploader")] = None,
) -> None:
    """Store FILE as received and settle the payouts it answers, in one transaction."""
    data = file.read_bytes()
    operator = user or f"cli:{getpass.getuser()}"
    with lines_bar(
        f"reading {file.name}", large=len(data) > get_settings().job_threshold_bytes
    ) as progress:
        result = _import(
            data, file, operator, progress, bank=bank, batch=batch, county=county, fund=fund
        )
    print(json.dumps(result, ensure_ascii=False, indent=2, default=str))
    verb = "already imported as" if result["replayed"] else "imported as"
    console.print(f"[green]{verb} bank file {result['file_id']}[/green] ({result['status']})")


def _import(
    data: bytes,
    file: Path,
    operator: str,
    progress: ProgressFn | None,
    *,
    bank: str | None,
    batch: int | None,
    county: str | None,
    fund: str | None,
) -> dict[str, Any]:
    try:
        return operator_write(
            get_engine(),
            action="cli:reconcile import",
            operator=operator,
            object_type="bank_file",
            work=lambda s: service.import_bank_file(
                s,
                data=data,
                uploaded_by=operator,
                bank_code=bank,
                batch_id=batch,
                county=county,
                fund=fund,
                filename=file.name,
                progress=progress,
            ),
        )
    except DomainError as exc:
        print(json.dumps(exc.body(), ensure_ascii=False, indent=2))
        console.print(f"[red]not applied[/red]: {exc.message}")
        raise typer.Exit(1) from None
