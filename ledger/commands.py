"""The API's ledger operations as ``ledger`` commands: books, entries, periods, documents,
roster, registers, batches, the audit log and the caller.

Each command runs the route function itself as the ``--as`` user (``ledger.acting``): the same
authorisation, service and answer model; ``--json`` prints that answer exactly.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import typer
from pydantic import BaseModel, ValidationError
from rich.table import Table

from ledger import terminal
from ledger.access import routes as access_routes
from ledger.acting import CommandWrite, acting, read
from ledger.batches import routes as batch_routes
from ledger.batches import service as batch_service
from ledger.batches.instruction_files import write_instruction_csv, write_pain001
from ledger.batches.models import Acknowledgement, BatchCreate, Release
from ledger.config import get_settings
from ledger.db import session_scope
from ledger.documents import routes as doc_routes
from ledger.documents.models import AllocationCreate, Decision, ReallocationCreate, TransferCreate
from ledger.errors import PayloadTooLarge, ValidationFailed
from ledger.filebytes import ByteSource
from ledger.journal import routes as book_routes
from ledger.journal.models import PeriodClose, ReversalCreate
from ledger.payouts import PayoutState
from ledger.roster import routes as roster_routes
from ledger.terminal import cell, console, show

M = TypeVar("M", bound=BaseModel)
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine output: the API's JSON answer")]
FundOpt = Annotated[str | None, typer.Option("--fund", help="Fund code or budget function code")]
AfterOpt = Annotated[int, typer.Option("--after-id", min=0, help="Page: rows after this id")]
LimitOpt = Annotated[int, typer.Option("--limit", min=1, max=1000)]
ReasonOpt = Annotated[str, typer.Option("--reason", help="Why (recorded with the decision)")]

books_app = typer.Typer(
    help="Balances, trial balance, account journals, fund flow", no_args_is_help=True
)
entries_app = typer.Typer(
    help="Journal entries: show one, draft its reversal", no_args_is_help=True
)
periods_app = typer.Typer(help="Fiscal periods", no_args_is_help=True)
documents_app = typer.Typer(
    help="Fund documents, made by one finance user, approved by another", no_args_is_help=True
)
roster_app = typer.Typer(help="The county roster (花名册)", no_args_is_help=True)
registers_app = typer.Typer(
    help="Registers: standards, deaths, public payroll, staff relatives", no_args_is_help=True
)
batches_app = typer.Typer(
    help="Payment batches: build, check, acknowledge, release", no_args_is_help=True
)


def body(model: type[M], **fields: Any) -> M:
    """A request body from options, refused in the API's error shape when invalid."""
    try:
        return model(**fields)
    except ValidationError as exc:
        raise ValidationFailed(
            "the request is invalid",
            [
                {"field": ".".join(str(p) for p in e["loc"]) or None, "reason": e["msg"]}
                for e in exc.errors()
            ],
        ) from None


def read_file(path: Path) -> bytes:
    """An upload read from disk, bounded as the API bounds it."""
    limit = get_settings().max_upload_bytes
    with path.open("rb") as f:
        data = f.read(limit + 1)
    _check_size(path, len(data), limit)
    return data


def open_file(path: Path) -> ByteSource:
    """An upload on disk, to be read in pieces (never whole), bounded as the API bounds it;
    close it after."""
    source = ByteSource(path.open("rb"))
    try:
        _check_size(path, source.size, get_settings().max_upload_bytes)
    except PayloadTooLarge:
        source.close()
        raise
    return source


def _check_size(path: Path, size: int, limit: int) -> None:
    if size > limit:
        raise PayloadTooLarge(
            f"{path} is larger than {limit} bytes", [{"field": "file", "reason": "too large"}]
        )


# --- books ----------------------------------------------------------------------------------


@books_app.command("balances")
def balances(
    code: str, fund: FundOpt = None, as_of: date | None = None, as_json: JsonOpt = False
) -> None:
    """Account balances of a jurisdiction (optionally one fund, as of a date)."""
    user = acting()
    rows = read(lambda s: book_routes.read_balances(code, s, user, fund, as_of))
    show(rows, as_json=as_json, title=f"balances of {terminal.jurisdiction_label(code)}")


def _trial_balance_tables(doc: dict[str, Any]) -> list[Table]:
    title = f"trial balance of {terminal.jurisdiction_label(doc['jurisdiction'])}"
    rows = [
        [
            cell("fund", f["fund"]),
            a["account"],
            cell("debit", a["debit"]),
            cell("credit", a["credit"]),
        ]
        for f in doc["funds"]
        for a in f["accounts"]
    ]
    rows += [
        [
            cell("fund", f["fund"]),
            "[bold]total[/bold]",
            cell("debit", f["debit"]),
            cell("credit", f["credit"]),
        ]
        for f in doc["funds"]
    ]
    state = "balanced" if doc["balanced"] else "[red]NOT balanced[/red]"
    return [
        terminal.table(f"{title}: {state}", ["fund", "account", "debit (元)", "credit (元)"], rows)
    ]


@books_app.command("trial-balance")
def trial_balance(
    code: str,
    fund: FundOpt = None,
    rollup: Annotated[bool, typer.Option(help="Include every jurisdiction below")] = False,
    as_of: date | None = None,
    as_json: JsonOpt = False,
) -> None:
    """Debits and credits per fund and account; balanced or not."""
    user = acting()
    tb = read(lambda s: book_routes.read_trial_balance(code, s, user, fund, rollup, as_of))
    show(tb, as_json=as_json, title="trial balance", render=_trial_balance_tables)


@books_app.command("journal")
def account_journal(
    code: str,
    fund: str,
    account: str,
    after_id: AfterOpt = 0,
    limit: LimitOpt = 100,
    as_json: JsonOpt = False,
) -> None:
    """The postings of one account (jurisdiction, fund, account kind), oldest first."""
    user = acting()
    rows = read(
        lambda s: book_routes.read_account_journal(code, fund, account, s, user, after_id, limit)
    )
    show(rows, as_json=as_json, title=f"journal of {code} {fund} {account}")


def _flow_tables(doc: dict[str, Any]) -> list[Table]:
    figures = [
        "received_from_above",
        "own_appropriation",
        "sent_below",
        "paid_to_people",
        "balance",
    ]
    rows: list[list[str]] = []

    def walk(node: dict[str, Any], depth: int) -> None:
        up = node["rolled_up"]
        rows.append(
            ["  " * depth + f"{node['jurisdiction']} {node['name']}"]
            + [cell(f, up[f]) for f in figures]
            + [up["execution_rate"] or "-"]
        )
        for child in node["children"]:  # the nodes the fund never reached are left out
            if any(child["rolled_up"][f] != "0.00" for f in figures):
                walk(child, depth + 1)

    walk(doc["root"], 0)
    title = f"fund flow of {terminal.fund_label(doc['fund'])}, {doc['fiscal_year']} (rolled up)"
    return [
        terminal.table(
            title, ["jurisdiction", *map(terminal.header, figures), "execution rate"], rows
        )
    ]


@books_app.command("fund-flow")
def fund_flow(
    code: str,
    fund: Annotated[str, typer.Option("--fund", help="Fund code or budget function code")],
    fiscal_year: Annotated[int | None, typer.Option("--year", min=2000, max=2100)] = None,
    as_json: JsonOpt = False,
) -> None:
    """Received, appropriated, sent below, paid and left of one fund, down the tree."""
    user = acting()
    flow = read(lambda s: doc_routes.read_fund_flow(code, fund, s, user, fiscal_year))
    show(flow, as_json=as_json, title="fund flow", render=_flow_tables)


# --- entries and periods --------------------------------------------------------------------


@entries_app.command("show")
def entry_show(entry_id: int, as_json: JsonOpt = False) -> None:
    """One journal entry with its postings and hashes."""
    user = acting()
    show(
        read(lambda s: book_routes.read_entry(entry_id, s, user)),
        as_json=as_json,
        title=f"entry {entry_id}",
    )


@entries_app.command("reverse")
def entry_reverse(
    entry_id: int,
    reason: ReasonOpt,
    effective_date: Annotated[
        date | None, typer.Option(help="In the open period; default today")
    ] = None,
    number: Annotated[str | None, typer.Option(help="The reversal document's number")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Draft the reversal (冲销) of an entry; a second finance user approves it to post."""
    user = acting()
    fields = {"reason": reason, "effective_date": effective_date}
    request = body(ReversalCreate, **fields, **({"number": number} if number else {}))
    write = CommandWrite(user, "cli:entries reverse")
    doc = read(lambda s: book_routes.reverse(entry_id, request, s, user, write))
    show(
        doc,
        as_json=as_json,
        title=f"reversal draft {doc.id} (approve: ledger --as OTHER documents approve {doc.id})",
    )


@periods_app.command("close")
def period_close(period: str, as_json: JsonOpt = False) -> None:
    """Close the books through PERIOD (YYYYMM): the province's finance bureau."""
    user = acting()
    closed = book_routes.close(
        body(PeriodClose, period=period), user, CommandWrite(user, "cli:periods close")
    )
    show(closed, as_json=as_json, title="period closed")


def _as_admin_write(action: str, object_type: str, period: str, work: Any) -> dict[str, Any]:
    """An archiving step in its unit of work, as the ``--as`` user, audited against the period."""
    from ledger.db import get_engine
    from ledger.uow import operator_name, operator_write

    return operator_write(
        get_engine(),
        action=action,
        operator=operator_name(),
        principal=acting(),
        work=work,
        object_type=object_type,
        object_id=period,
    )


@periods_app.command("archive-request")
def period_archive_request(
    period: str,
    reason: Annotated[str, typer.Option("--reason", help="Why the period leaves the live books")],
    as_json: JsonOpt = False,
) -> None:
    """Ask for a closed, settled PERIOD to be archived; another admin of the bureau archives it."""
    from ledger.journal.archive import request_archive

    user = acting()
    asked = _as_admin_write(
        "cli:periods archive-request",
        "period_archive_request",
        period,
        lambda s: request_archive(s, period=period, reason=reason, principal=user).as_dict(),
    )
    show(
        asked,
        as_json=as_json,
        title=f"archive of {period} requested (archive: ledger --as OTHER periods archive "
        f"{period} --out DIR)",
    )


@periods_app.command("archive")
def period_archive(
    period: str,
    out: Annotated[Path, typer.Option("--out", help="Directory the archive files go to")],
    as_json: JsonOpt = False,
) -> None:
    """Archive a closed, settled PERIOD another admin asked for: its payout lines and events to
    CSV files in --out, a record of their SHA-256 and batch roots, then its partitions detached."""
    from ledger.journal.archive import archive_period

    user = acting()
    archived = _as_admin_write(
        "cli:periods archive",
        "period_archive",
        period,
        lambda s: archive_period(s, period=period, out_dir=out, principal=user).as_dict(),
    )
    if as_json:
        terminal.print_json(archived)
        return
    console.print(
        terminal.table(
            f"period {period} archived (record {archived['id']}, kept as {archived['kept_as']})",
            ["file", "rows", "SHA-256"],
            [[f["name"], f"{f['rows']:,}", f["sha256"]] for f in archived["files"]],
        )
    )
    console.print(
        f"{len(archived['batches'])} batch root(s) recorded; manifest {archived['manifest']}"
    )


# --- documents ------------------------------------------------------------------------------

NumberOpt = Annotated[
    str, typer.Option("--number", help="The document number, e.g. 粤财社〔2026〕1号")
]
YearOpt = Annotated[int, typer.Option("--year", help="Fiscal year")]
AmountOpt = Annotated[str, typer.Option("--amount", help="Yuan, at most two decimals: 1234.50")]
MemoOpt = Annotated[str, typer.Option("--memo")]
DateOpt = Annotated[date | None, typer.Option("--effective-date", help="Default today")]


def _draft(route: Any, model: type[BaseModel], action: str, as_json: bool, **fields: Any) -> None:
    user = acting()
    request = body(model, **{k: v for k, v in fields.items() if v is not None})
    doc = route(request, user, CommandWrite(user, action))
    show(
        doc,
        as_json=as_json,
        title=f"draft {doc.id} (approve: ledger --as OTHER documents approve {doc.id})",
    )


@documents_app.command("allocate")
def allocate(
    number: NumberOpt, year: YearOpt, amount: AmountOpt,
    fund: Annotated[str, typer.Option("--fund")],
    memo: MemoOpt = "", effective_date: DateOpt = None, as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Draft an allocation (拨款) of your bureau."""
    _draft(doc_routes.create_allocation, AllocationCreate, "cli:documents allocate", as_json,
           number=number, fiscal_year=year, amount=amount, fund=fund, memo=memo,
           effective_date=effective_date)  # fmt: skip


@documents_app.command("transfer")
def transfer(
    number: NumberOpt, year: YearOpt, amount: AmountOpt,
    fund: Annotated[str, typer.Option("--fund")],
    to: Annotated[str, typer.Option("--to", help="A direct child jurisdiction")],
    memo: MemoOpt = "", effective_date: DateOpt = None, as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Draft a transfer payment (转移支付) to a jurisdiction directly below yours."""
    _draft(doc_routes.create_transfer, TransferCreate, "cli:documents transfer", as_json,
           number=number, fiscal_year=year, amount=amount, fund=fund, to_jurisdiction=to,
           memo=memo, effective_date=effective_date)  # fmt: skip


@documents_app.command("reallocate")
def reallocate(
    number: NumberOpt, year: YearOpt, amount: AmountOpt,
    from_fund: Annotated[str, typer.Option("--from-fund")],
    to_fund: Annotated[str, typer.Option("--to-fund")],
    memo: MemoOpt = "", effective_date: DateOpt = None, as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Draft a reallocation (调剂) between two funds of your jurisdiction."""
    _draft(doc_routes.create_reallocation, ReallocationCreate, "cli:documents reallocate", as_json,
           number=number, fiscal_year=year, amount=amount, from_fund=from_fund, to_fund=to_fund,
           memo=memo, effective_date=effective_date)  # fmt: skip


@documents_app.command("approve")
def approve(document_id: int, as_json: JsonOpt = False) -> None:
    """Approve and post a draft: a finance user of the issuing bureau other than its maker."""
    user = acting()
    write = CommandWrite(user, "cli:documents approve")
    result = read(lambda s: doc_routes.approve(document_id, s, user, write))
    show(result, as_json=as_json, title=f"document {document_id} approved")


def _decide(route: Any, action: str, document_id: int, reason: str, as_json: bool) -> None:
    user = acting()
    write = CommandWrite(user, action)
    decision = body(Decision, reason=reason)
    doc = read(lambda s: route(document_id, decision, s, user, write))
    show(doc, as_json=as_json, title=f"document {document_id} {doc.status}")


@documents_app.command("reject")
def reject(document_id: int, reason: ReasonOpt, as_json: JsonOpt = False) -> None:
    """Reject a draft: a finance user of the issuing bureau other than its maker."""
    _decide(doc_routes.reject, "cli:documents reject", document_id, reason, as_json)


@documents_app.command("withdraw")
def withdraw(document_id: int, reason: ReasonOpt, as_json: JsonOpt = False) -> None:
    """Withdraw your own draft."""
    _decide(doc_routes.withdraw, "cli:documents withdraw", document_id, reason, as_json)


@documents_app.command("show")
def document_show(document_id: int, as_json: JsonOpt = False) -> None:
    user = acting()
    doc = read(lambda s: doc_routes.read_document(document_id, s, user))
    show(doc, as_json=as_json, title=f"document {document_id}")


@documents_app.command("list")
def document_list(
    code: str,
    year: Annotated[int | None, typer.Option("--year", min=2000, max=2100)] = None,
    status: Annotated[
        Literal["draft", "posted", "rejected", "withdrawn", "reversed"] | None, typer.Option()
    ] = None,
    after_id: AfterOpt = 0,
    limit: LimitOpt = 100,
    as_json: JsonOpt = False,
) -> None:
    """Documents a jurisdiction issued or received."""
    user = acting()
    rows = read(lambda s: doc_routes.read_documents(code, s, user, year, status, after_id, limit))
    columns = [
        "id",
        "doc_type",
        "number",
        "jurisdiction",
        "to_jurisdiction",
        "fund",
        "amount",
        "status",
        "created_by",
        "approved_by",
    ]
    show(rows, as_json=as_json, title=f"documents of {terminal.jurisdiction_label(code)}",
         render=lambda d: [terminal.rows_table("documents", d, columns)])  # fmt: skip


# --- roster and registers -------------------------------------------------------------------


@roster_app.command("import")
def roster_import(
    county: str,
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    period: Annotated[str, typer.Option("--period", help="Effective period YYYYMM")],
    mode: Annotated[Literal["update", "replace"], typer.Option()] = "update",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Answer, write nothing")] = False,
    confirm_exits: Annotated[
        int | None, typer.Option(min=0, help="replace: the exits expected")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Import a county's roster (CSV UTF-8/GBK or XLSX); a file with any error changes nothing."""
    user = roster_routes.roster_importer(county, acting())
    data = read_file(file)
    write = CommandWrite(user, "cli:roster import")
    with console.status(f"importing {file.name} ({len(data):,} bytes)…"):
        result = read(
            lambda s: roster_routes.import_roster_file(
                s, write, user=user, county=county, data=data, filename=file.name,
                effective_period=period, mode=mode, dry_run=dry_run, confirm_exits=confirm_exits,
            )
        )  # fmt: skip
    show(result, as_json=as_json, title="roster dry run" if dry_run else "roster imported")


@roster_app.command("show")
def roster_show(
    county: str,
    period: Annotated[str, typer.Option("--period", help="YYYYMM")],
    fund: FundOpt = None,
    after_id: AfterOpt = 0,
    limit: Annotated[int, typer.Option("--limit", min=1, max=5000)] = 1000,
    as_json: JsonOpt = False,
) -> None:
    """Who is entitled in PERIOD (ID and account numbers masked)."""
    user = acting()
    rows = read(lambda s: roster_routes.read_roster(county, s, user, period, fund, after_id, limit))
    show(rows, as_json=as_json, title=f"roster of {terminal.jurisdiction_label(county)}, {period}")


@registers_app.command("import")
def register_import(
    kind: Annotated[
        str, typer.Argument(help="standards | deaths | public_payroll | staff_relatives")
    ],
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    jurisdiction: Annotated[str | None, typer.Option(help="Default: your own")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Import a register for your jurisdiction or one below it."""
    from ledger.registers.service import KINDS

    if kind not in KINDS:
        raise typer.BadParameter(f"must be one of {', '.join(KINDS)}", param_hint="KIND")
    user, jur = roster_routes.register_importer(acting(), jurisdiction)
    data = read_file(file)
    write = CommandWrite(user, "cli:registers import")
    with console.status(f"importing {file.name}…"):
        result = roster_routes.import_register_file(
            write, user=user, kind=kind, jurisdiction=jur, data=data, filename=file.name
        )
    show(result, as_json=as_json, title=f"register {kind} imported")


# --- batches --------------------------------------------------------------------------------


@batches_app.command("build")
def batch_build(
    county: Annotated[str, typer.Option("--county")],
    fund: Annotated[str, typer.Option("--fund")],
    period: Annotated[str, typer.Option("--period", help="YYYYMM")],
    bank: Annotated[str, typer.Option("--bank", help="Bank code")],
    reissue: Annotated[list[int] | None, typer.Option(help="A failed payout to pay again")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Build the month's batch from the roster and run the pre-release checks."""
    user = acting()
    request = body(
        BatchCreate, county=county, fund=fund, period=period, bank_code=bank, reissue=reissue or []
    )
    with console.status("building the batch and running the checks…"):
        batch = batch_routes.build(request, user, CommandWrite(user, "cli:batches build"))
    show(batch, as_json=as_json, title=f"batch {batch.id}")


@batches_app.command("show")
def batch_show(batch_id: int, as_json: JsonOpt = False) -> None:
    user = acting()
    show(
        read(lambda s: batch_routes.read_batch(batch_id, s, user)),
        as_json=as_json,
        title=f"batch {batch_id}",
    )


@batches_app.command("findings")
def batch_findings(
    batch_id: int,
    all_runs: Annotated[bool, typer.Option("--all-runs", help="Every run, not the latest")] = False,
    as_json: JsonOpt = False,
) -> None:
    """What the checks found; warnings are acknowledged by id."""
    user = acting()
    rows = read(lambda s: batch_routes.read_findings(batch_id, s, user, all_runs))
    columns = ["id", "rule", "severity", "message", "acknowledged_by", "ack_reason"]
    show(rows, as_json=as_json, title=f"findings of batch {batch_id}",
         render=lambda d: [terminal.rows_table(f"findings of batch {batch_id}", d, columns)])  # fmt: skip


@batches_app.command("check")
def batch_check(batch_id: int, as_json: JsonOpt = False) -> None:
    """Run the checks again (after a register import or funding)."""
    user = acting()
    write = CommandWrite(user, "cli:batches check")
    show(
        read(lambda s: batch_routes.recheck(batch_id, s, user, write)),
        as_json=as_json,
        title=f"checks of batch {batch_id}",
    )


@batches_app.command("acknowledge")
def batch_acknowledge(
    batch_id: int,
    finding_ids: Annotated[list[int], typer.Argument(help="Warning finding ids")],
    reason: ReasonOpt,
    as_json: JsonOpt = False,
) -> None:
    """Acknowledge warnings with a reason: a civil-affairs user other than the batch's maker."""
    user = acting()
    request = body(Acknowledgement, reason=reason, finding_ids=finding_ids)
    write = CommandWrite(user, "cli:batches acknowledge")
    show(
        read(lambda s: batch_routes.acknowledge(batch_id, request, s, user, write)),
        as_json=as_json,
        title="acknowledged",
    )


@batches_app.command("release")
def batch_release(batch_id: int, effective_date: DateOpt = None, as_json: JsonOpt = False) -> None:
    """Release the batch: a second civil-affairs user; posts and sends every line."""
    user = acting()
    request = body(Release, effective_date=effective_date) if effective_date else None
    write = CommandWrite(user, "cli:batches release")
    with console.status(f"releasing batch {batch_id}…"):
        result = read(lambda s: batch_routes.release(batch_id, s, user, write, request))
    show(result, as_json=as_json, title=f"batch {batch_id} released")


@batches_app.command("cancel")
def batch_cancel(batch_id: int, as_json: JsonOpt = False) -> None:
    user = acting()
    write = CommandWrite(user, "cli:batches cancel")
    show(
        read(lambda s: batch_routes.cancel(batch_id, s, user, write)),
        as_json=as_json,
        title=f"batch {batch_id}",
    )


@batches_app.command("instructions")
def batch_instructions(
    batch_id: int,
    out: Annotated[Path, typer.Option("--out", help="File to write")],
    fmt: Annotated[
        Literal["csv", "xml"], typer.Option("--format", help="csv or pain.001 xml")
    ] = "csv",
    encoding: Annotated[Literal["utf-8", "gbk"], typer.Option(help="csv only")] = "utf-8",
    as_json: JsonOpt = False,
) -> None:
    """Write a released batch's instruction file for the paying bank."""
    user = acting()
    tmp = out.with_name(out.name + ".part")
    with session_scope() as session, tmp.open("wb") as f:
        batch = batch_routes.released_batch(session, user, batch_id)
        header = batch_service.instruction_header(session, batch)
        lines = batch_service.instruction_lines(session, batch_id)
        if fmt == "csv":
            write_instruction_csv(header, lines, f, encoding=encoding)  # type: ignore[arg-type]
        else:
            write_pain001(header, lines, f)  # type: ignore[arg-type]
    tmp.replace(out)
    answer = {"batch_id": batch_id, "format": fmt, "out": str(out), "bytes": out.stat().st_size}
    show(answer, as_json=as_json, title="instruction file")


# --- the caller and the audit log -----------------------------------------------------------


def me(as_json: JsonOpt = False) -> None:
    """Who --as names: role, bureau, jurisdiction, bank."""
    show(access_routes.read_me(acting()), as_json=as_json, title="me")


def audit_log(
    code: str,
    action: Annotated[str | None, typer.Option(help="Only this action (route name)")] = None,
    username: Annotated[str | None, typer.Option("--user", help="Only this user")] = None,
    outcome: Annotated[
        Literal["accepted", "refused", "failed"] | None, typer.Option(help="Only this outcome")
    ] = None,
    since: Annotated[
        str | None, typer.Option("--from", help="At or after (ISO 8601 date or time)")
    ] = None,
    until: Annotated[str | None, typer.Option("--to", help="Before (ISO 8601)")] = None,
    after_id: AfterOpt = 0,
    limit: LimitOpt = 100,
    as_json: JsonOpt = False,
) -> None:
    """Every write and attempted write by users of a subtree, oldest first, filtered."""
    user = acting()
    filters = access_routes.AuditFilters(
        action=action,
        user=username,
        outcome=outcome,
        from_=_moment(since, "--from"),
        to=_moment(until, "--to"),
    )
    rows = read(lambda s: access_routes.read_audit_log(code, s, user, filters, after_id, limit))
    columns = [
        "id",
        "at",
        "username",
        "role",
        "action",
        "object_type",
        "object_id",
        "outcome",
        "status_code",
    ]
    show(rows, as_json=as_json, title=f"audit log of {terminal.jurisdiction_label(code)}",
         render=lambda d: [terminal.rows_table("audit log", d, columns)])  # fmt: skip


def _moment(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise ValidationFailed(
            f"{option} must be an ISO 8601 date or time", [{"field": option, "reason": value}]
        ) from None


CursorOpt = Annotated[str | None, typer.Option("--cursor", help="Page: the next_cursor given")]


def _page(title: str, columns: list[str]) -> Any:
    """Render a cursor page: its items as a table, and where the next page starts."""

    def render(doc: dict[str, Any]) -> list[Table]:
        tables = [terminal.rows_table(title, doc["items"], columns)]
        if doc.get("has_more"):
            console.print(f"more: --cursor {doc['next_cursor']}")
        return tables

    return render


@batches_app.command("list")
def batch_list(
    bank: Annotated[str | None, typer.Option(help="Bank code")] = None,
    county: Annotated[str | None, typer.Option(help="County code")] = None,
    fund: Annotated[str | None, typer.Option(help="Fund")] = None,
    period: Annotated[str | None, typer.Option(help="YYYYMM")] = None,
    status: Annotated[
        Literal["draft", "released", "cancelled"] | None, typer.Option(help="Batch status")
    ] = None,
    cursor: CursorOpt = None,
    limit: LimitOpt = 100,
    as_json: JsonOpt = False,
) -> None:
    """The batches the acting user may see (a bank: those addressed to it)."""
    user = acting()
    page = read(
        lambda s: batch_routes.list_batches(
            s, user, bank, county, fund, period, status, cursor, limit
        )
    )
    columns = [
        "id",
        "county_code",
        "fund_code",
        "period",
        "bank_code",
        "status",
        "line_count",
        "total",
    ]
    show(page, as_json=as_json, title="batches", render=_page("batches", columns))


@batches_app.command("payouts")
def batch_payouts(
    batch_id: int,
    state: Annotated[
        PayoutState | None,
        typer.Option(help="Only lines in this state (e.g. failed, to choose reissues)"),
    ] = None,
    cursor: CursorOpt = None,
    limit: LimitOpt = 100,
    as_json: JsonOpt = False,
) -> None:
    """A batch's payout lines (accounts masked)."""
    user = acting()
    page = read(lambda s: batch_routes.list_payouts(batch_id, s, user, state, cursor, limit))
    show(page, as_json=as_json, title=f"payouts of batch {batch_id}",
         render=_page(f"payouts of batch {batch_id}", ["id", "seq", "reference", "payee_name", "amount", "state"]))  # fmt: skip


@documents_app.command("queue")
def document_queue(
    status: Annotated[
        Literal["draft", "posted", "rejected", "withdrawn", "reversed"] | None, typer.Option()
    ] = "draft",
    awaiting_me: Annotated[
        bool, typer.Option("--awaiting-me/--all", help="Only drafts the acting user may decide")
    ] = True,
    cursor: CursorOpt = None,
    limit: LimitOpt = 100,
    as_json: JsonOpt = False,
) -> None:
    """The acting user's approval queue: drafts of their bureau made by someone else."""
    user = acting()
    page = read(lambda s: doc_routes.list_documents(s, user, status, awaiting_me, cursor, limit))
    columns = ["id", "doc_type", "number", "fund", "amount", "status", "created_by"]
    show(page, as_json=as_json, title="documents", render=_page("documents", columns))


def mount(app: typer.Typer) -> None:
    """Put these commands on ``ledger``."""
    for sub, name in [
        (books_app, "books"), (entries_app, "entries"), (periods_app, "periods"),
        (documents_app, "documents"), (roster_app, "roster"), (registers_app, "registers"),
        (batches_app, "batches"), (complaints_app, "complaints"), (reviews_app, "reviews"),
    ]:  # fmt: skip
        app.add_typer(sub, name=name)
    app.command("me")(me)
    app.command("audit-log")(audit_log)


# --- the notice's registers: holdings, reviews, complaints -------------------------------------

complaints_app = typer.Typer(help="Complaints and reports (投诉举报)", no_args_is_help=True)
reviews_app = typer.Typer(help="Household reviews (动态复核)", no_args_is_help=True)


@registers_app.command("holdings")
def holdings_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    jurisdiction: Annotated[str | None, typer.Option(help="Default: your own")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Import holdings (deposits, securities, insurance) by ID number; a bank only its own."""
    from ledger.registers import routes as register_routes
    from ledger.registers import service as register_service

    user, jur = register_routes.holdings_importer(acting(), jurisdiction)
    data = read_file(file)
    write = CommandWrite(user, "cli:registers holdings")
    with console.status(f"importing {file.name}…"):
        result = write.run(
            lambda s: register_service.import_holdings(
                s,
                jurisdiction=jur,
                data=data,
                filename=file.name,
                imported_by=user.username,
                bank_code=user.bank_code if user.role == "bank" else None,
            ),
            operation="holdings_import",
            body={"jurisdiction": jur, "sha256": hashlib.sha256(data).hexdigest()},
            status_code=201,
            audit_object=lambda r: ("register_import", r["import_id"]),
        )
    show(result, as_json=as_json, title="holdings imported")


@reviews_app.command("add")
def review_add(
    county: str,
    household: Annotated[str, typer.Option("--household", help="Household id")],
    kind: Annotated[Literal["information_check", "home_visit"], typer.Option("--kind")],
    reviewed_on: Annotated[str, typer.Option("--on", help="YYYY-MM-DD")],
    outcome: Annotated[str, typer.Option("--outcome")],
    reviewer: Annotated[str, typer.Option("--reviewer")],
    assets: Annotated[
        str | None, typer.Option("--assets", help="Assets an information check found, in yuan")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Record one review of a household: an information check or a home visit."""
    from ledger.registers import routes as register_routes
    from ledger.registers.models import ReviewCreate

    user = register_routes.reviewer_of(county, acting())
    request = body(
        ReviewCreate,
        household_id=household,
        kind=kind,
        reviewed_on=reviewed_on,
        outcome=outcome,
        reviewer=reviewer,
        assets=assets,
    )
    write = CommandWrite(user, "cli:reviews add")
    show(register_routes.create_review(county, request, user, write), as_json=as_json,
         title="review recorded")  # fmt: skip


@complaints_app.command("add")
def complaint_add(
    jurisdiction: Annotated[str, typer.Option("--jurisdiction")],
    channel: Annotated[Literal["hotline", "letter", "visit", "web"], typer.Option("--channel")],
    received_on: Annotated[str, typer.Option("--received-on", help="YYYY-MM-DD")],
    concerns: Annotated[
        Literal["person", "household", "jurisdiction", "batch"], typer.Option("--concerns")
    ],
    content: Annotated[str, typer.Option("--content")],
    household: Annotated[str | None, typer.Option("--household")] = None,
    batch: Annotated[int | None, typer.Option("--batch")] = None,
    handler: Annotated[str | None, typer.Option("--handler")] = None,
    id_number: Annotated[
        str | None, typer.Option("--id-number", help="For one about a person (kept only hashed)")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Record a complaint or report received; its deadline follows from the working days."""
    from ledger.complaints import routes as complaint_routes
    from ledger.complaints.models import ComplaintCreate

    user = acting()
    request = body(
        ComplaintCreate,
        channel=channel,
        received_on=received_on,
        jurisdiction=jurisdiction,
        concerns=concerns,
        content=content,
        household_id=household,
        batch_id=batch,
        handler=handler,
        id_number=id_number,
    )
    write = CommandWrite(user, "cli:complaints add")
    show(complaint_routes.create_complaint(request, user, write), as_json=as_json,
         title="complaint recorded")  # fmt: skip


@complaints_app.command("close")
def complaint_close(
    complaint_id: int,
    outcome: Annotated[str, typer.Option("--outcome")],
    closed_on: Annotated[str, typer.Option("--closed-on", help="YYYY-MM-DD")],
    finding: Annotated[
        list[int] | None, typer.Option("--finding", help="A finding it closed")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Close a complaint with its outcome."""
    from ledger.complaints import routes as complaint_routes
    from ledger.complaints.models import ComplaintClose

    user = acting()
    request = body(ComplaintClose, outcome=outcome, closed_on=closed_on, finding_ids=finding or [])
    write = CommandWrite(user, "cli:complaints close")
    show(
        read(lambda s: complaint_routes.close_complaint(complaint_id, request, s, user, write)),
        as_json=as_json,
        title=f"complaint {complaint_id}",
    )


@complaints_app.command("list")
def complaint_list(code: str, limit: LimitOpt = 200, as_json: JsonOpt = False) -> None:
    """The complaints of a jurisdiction's subtree, newest first."""
    from ledger.complaints import routes as complaint_routes

    user = acting()
    rows = read(lambda s: complaint_routes.list_complaints(code, s, user, limit))
    columns = ["id", "reference", "channel", "received_on", "deadline", "closed_on", "handler"]
    show(rows, as_json=as_json, title="complaints",
         render=lambda d: [terminal.rows_table("complaints", d, columns)])  # fmt: skip
