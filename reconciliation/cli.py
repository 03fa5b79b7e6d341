"""``ledger bank-files`` and ``ledger exceptions``: a bank's files in, exceptions resolved.

With ``--as`` a bank user, an import is the API's (``POST /bank-files``); without, the operator
of this machine imports a file as received (the bank told by the file or ``--bank``).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Literal

import typer

from ledger import terminal
from ledger.acting import CommandWrite, acting, acting_username, read
from ledger.commands import body, open_file
from ledger.config import get_settings
from ledger.db import get_engine
from ledger.jobs.cli import lines_bar
from ledger.terminal import console, show
from ledger.uow import operator_name, operator_write
from reconciliation import routes, service
from reconciliation.models import BankFilePublic, ProposalDecision, ResolutionCreate

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine output: the API's JSON answer")]
bank_files_app = typer.Typer(
    help="Bank return files and statements (回盘, pain.002, camt.054, camt.053)",
    no_args_is_help=True,
)
exceptions_app = typer.Typer(
    help="Bank lines that settled nothing: proposed by one user, approved by another",
    no_args_is_help=True,
)


@bank_files_app.command("import")
def import_file(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    bank: Annotated[
        str | None, typer.Option(help="Operator import: bank code; default told from the file")
    ] = None,
    batch: Annotated[int | None, typer.Option(help="The batch the file answers")] = None,
    county: Annotated[str | None, typer.Option(help="camt.053: county of the account")] = None,
    fund: Annotated[str | None, typer.Option(help="camt.053: fund of the account")] = None,
    value_date: Annotated[
        date | None, typer.Option(help="Return files: the day the bank paid; default today")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Store FILE as received and settle the payouts it answers, in one transaction."""
    with open_file(file) as data:
        if acting_username():
            user = acting()
            with console.status(f"importing {file.name} ({data.size:,} bytes)…"):
                answer = routes.import_bank_file_as(
                    CommandWrite(user, "cli:bank-files import"),
                    user=user, data=data, batch_id=batch, county=county, fund=fund,
                    filename=file.name, value_date=value_date,
                )  # fmt: skip
            assert isinstance(answer, BankFilePublic)  # a command imports inline, never as a job
            result = answer
        else:
            operator = operator_name()
            large = data.size > get_settings().job_threshold_bytes
            with lines_bar(f"reading {file.name}", large=large) as progress:
                result = BankFilePublic.of(
                    operator_write(
                        get_engine(),
                        action="cli:bank-files import",
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
                            value_date=value_date,
                        ),
                    )
                )
        verb = "already imported as" if result.replayed else "imported as"
        show(result, as_json=as_json, title=f"{verb} bank file {result.file_id} ({result.status})")


@bank_files_app.command("show")
def show_file(file_id: int, as_json: JsonOpt = False) -> None:
    """What an imported file did."""
    user = acting()
    show(
        read(lambda s: routes.read_bank_file(file_id, s, user)),
        as_json=as_json,
        title=f"bank file {file_id}",
    )


@exceptions_app.command("queue")
def exception_queue(
    status: Annotated[
        Literal["open", "matched", "referred", "written_off"], typer.Option()
    ] = "open",
    awaiting_me: Annotated[
        bool, typer.Option("--awaiting-me/--all", help="Only those waiting for my decision")
    ] = True,
    cursor: Annotated[str | None, typer.Option("--cursor", help="The next_cursor given")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 100,
    as_json: JsonOpt = False,
) -> None:
    """Open exceptions the acting user may propose or approve (never the uploader's own)."""
    user = acting()
    page = read(lambda s: routes.read_exception_queue(s, user, status, awaiting_me, cursor, limit))
    columns = ["id", "bank_file_id", "line_no", "problem", "amount", "proposed_by", "status"]
    show(page, as_json=as_json, title="exceptions",
         render=lambda d: [terminal.rows_table("exceptions", d["items"], columns)])  # fmt: skip


@exceptions_app.command("list")
def list_exceptions(
    status: Annotated[
        Literal["open", "matched", "referred", "written_off"], typer.Option()
    ] = "open",
    bank_file: Annotated[int | None, typer.Option("--bank-file", help="One file's lines")] = None,
    after_id: Annotated[int, typer.Option("--after-id", min=0)] = 0,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 100,
    as_json: JsonOpt = False,
) -> None:
    """The exceptions queue: unmatched, conflicting, refused and mismatched bank lines."""
    user = acting()
    rows = read(lambda s: routes.read_exceptions(s, user, status, bank_file, after_id, limit))
    columns = [
        "id",
        "bank_file_id",
        "line_no",
        "problem",
        "batch_id",
        "county_code",
        "amount",
        "suggested_payout_id",
        "outcome",
    ]
    show(rows, as_json=as_json, title=f"{status} exceptions",
         render=lambda d: [terminal.rows_table(f"{status} exceptions", d, columns)])  # fmt: skip


@exceptions_app.command("propose")
def propose(
    exception_id: int,
    action: Annotated[Literal["match", "refer", "write_off"], typer.Option()],
    reason: Annotated[str, typer.Option(help="Why")],
    payout: Annotated[int | None, typer.Option(help="action=match: the payout the line is")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Propose a resolution; a second user approves it."""
    user = acting()
    request = body(ResolutionCreate, action=action, reason=reason, payout_id=payout)
    result = routes.propose(
        exception_id, request, user, CommandWrite(user, "cli:exceptions propose")
    )
    show(result, as_json=as_json, title=f"exception {exception_id}: {action} proposed")


@exceptions_app.command("approve")
def approve(exception_id: int, as_json: JsonOpt = False) -> None:
    """Approve the proposal: neither its proposer nor the file's uploader."""
    user = acting()
    result = routes.approve_resolution(
        exception_id, user, CommandWrite(user, "cli:exceptions approve")
    )
    show(result, as_json=as_json, title=f"exception {exception_id} {result.outcome}")


@exceptions_app.command("reject")
def reject(
    exception_id: int,
    reason: Annotated[str, typer.Option(help="Why")],
    as_json: JsonOpt = False,
) -> None:
    """Turn the proposal down; the exception stays open."""
    user = acting()
    request = body(ProposalDecision, reason=reason)
    result = routes.reject_resolution(
        exception_id, request, user, CommandWrite(user, "cli:exceptions reject")
    )
    show(result, as_json=as_json, title=f"exception {exception_id}: proposal rejected")
