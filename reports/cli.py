"""``ledger report …``: build a report file on the command line (honours LEDGER_DATABASE_URL)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from ledger import terminal
from ledger.access.deps import require_public_scope
from ledger.acting import CommandWrite, acting, acting_or_none, read
from ledger.commands import body
from ledger.db import get_engine, session_scope
from ledger.evidence.service import printed_checkpoint
from ledger.jurisdictions.service import get_jurisdiction
from ledger.terminal import show
from ledger.uow import operator_name, operator_write
from reports import bundle, data, findings, routes, service
from reports.models import FindingRunCreate
from reports.scope import check_period, report_scope

console = Console(stderr=True)
report_app = typer.Typer(
    help="Disclosure and audit PDFs, findings and payout exports", no_args_is_help=True
)

JurisdictionOpt = Annotated[str, typer.Option("--jurisdiction", help="Division code, e.g. 440103")]
PeriodOpt = Annotated[
    str, typer.Option("--period", help="YYYYMM, e.g. $(date +%Y%m) for the current month")
]
OutOpt = Annotated[Path, typer.Option("--out", help="PDF file to write")]
OutCsvOpt = Annotated[Path, typer.Option("--out", help="CSV file to write")]
ByOpt = Annotated[str, typer.Option("--by", help="Recorded as who generated the file")]


def _recorded(
    action: str, by: str, build: Callable[[Session], service.BuiltReport]
) -> service.BuiltReport:
    """Build in a unit of work: the report's record and its audit row commit together."""
    built: list[service.BuiltReport] = []

    def work(s: Session) -> dict[str, int]:
        built.append(build(s))
        return {"record_id": built[0].record_id}

    principal = acting_or_none()
    operator_write(
        get_engine(),
        action=action,
        operator=by,
        principal=principal,
        object_type="report_record",
        work=work,
    )
    return built[0]


def _done(built: service.BuiltReport, out: Path) -> None:
    built.save(out)
    built.file.close()
    console.print(
        f"{out}: {built.size_bytes} bytes, sha256 {built.sha256} (record {built.record_id})"
    )


@report_app.command("disclosure")
def disclosure(
    jurisdiction: JurisdictionOpt,
    fund: Annotated[str, typer.Option("--fund", help="Fund code or budget function code")],
    period: PeriodOpt,
    out: Annotated[
        Path, typer.Option("--out", help="PDF file to write (a directory with --per-village)")
    ],
    by: ByOpt = "cli",
    notice_from: Annotated[
        str | None, typer.Option("--notice-from", help="公示期 start, YYYY-MM-DD (report date)")
    ] = None,
    notice_days: Annotated[int, typer.Option("--notice-days", help="公示期 in days")] = 7,
    per_village: Annotated[
        bool, typer.Option("--per-village", help="One file per village into --out")
    ] = False,
    large_print: Annotated[bool, typer.Option("--large-print", help="14 pt text")] = False,
) -> None:
    """The public disclosure (公示) of one jurisdiction, fund and period (with --as: any role
    whose scope covers it, recorded as that user)."""
    user = acting_or_none()
    if user is not None:
        require_public_scope(user, jurisdiction)
        by = user.username
    start = date.fromisoformat(notice_from) if notice_from else None
    villages: list[data.Village | None] = [None]
    if per_village:
        with session_scope() as session:
            villages = list(
                service.disclosure_villages(
                    session, jurisdiction=jurisdiction, fund=fund, period=period
                )
            )
    for village in villages:

        def build(s: Session, village: data.Village | None = village) -> service.BuiltReport:
            return service.build_disclosure(
                s, jurisdiction=jurisdiction, fund=fund, period=period, generated_by=by,
                notice_from=start, notice_days=notice_days, large_print=large_print,
                village=village, checkpoint=printed_checkpoint(s),
            )  # fmt: skip

        built = _recorded("cli:report disclosure", by, build)
        _done(built, out / built.filename if per_village else out)


@report_app.command("audit")
def audit(jurisdiction: JurisdictionOpt, period: PeriodOpt, out: OutOpt, by: ByOpt = "cli") -> None:
    """The audit report (审计报告) of one jurisdiction and period (with --as: its own bureaus
    and auditors, recorded as that user)."""
    user = acting_or_none()
    if user is not None:
        routes.require_audit_reader(user, jurisdiction)
        by = user.username
    built = _recorded(
        "cli:report audit",
        by,
        lambda s: service.build_audit(
            s,
            jurisdiction=jurisdiction,
            period=period,
            generated_by=by,
            checkpoint=printed_checkpoint(s),
        ),
    )
    _done(built, out)


class Format(StrEnum):
    csv = "csv"
    xlsx = "xlsx"


FormatOpt = Annotated[Format, typer.Option("--format", help="csv or xlsx")]


@report_app.command("findings")
def findings_export(
    jurisdiction: JurisdictionOpt,
    period: PeriodOpt,
    out: Annotated[Path, typer.Option("--out", help="File to write")],
    fmt: FormatOpt = Format.csv,
    by: ByOpt = "cli",
) -> None:
    """The findings of a jurisdiction's subtree, counted once, as CSV or XLSX."""
    built = _recorded(
        "cli:report findings",
        by,
        lambda s: service.build_export(
            s,
            what="findings",
            fmt=fmt.value,
            jurisdiction=jurisdiction,
            period=period,
            generated_by=by,
        ),
    )
    _done(built, out)


@report_app.command("payouts")
def payouts_export(
    jurisdiction: JurisdictionOpt,
    period: PeriodOpt,
    out: Annotated[Path, typer.Option("--out", help="File to write")],
    fund: Annotated[str | None, typer.Option("--fund", help="One fund (default all)")] = None,
    fmt: FormatOpt = Format.csv,
    by: ByOpt = "cli",
) -> None:
    """The period's payout lines, masked (no ID or account numbers), as CSV or XLSX."""
    built = _recorded(
        "cli:report payouts",
        by,
        lambda s: service.build_export(
            s,
            what="payouts",
            fmt=fmt.value,
            jurisdiction=jurisdiction,
            period=period,
            fund=fund,
            generated_by=by,
        ),
    )
    _done(built, out)


findings_app = typer.Typer(
    help="Findings of the rules: list, run and keep, export", no_args_is_help=True
)
CodeArg = Annotated[str, typer.Argument(help="Division code, e.g. 440103")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine output: the API's JSON answer")]


@report_app.command("records")
def records(
    jurisdiction: JurisdictionOpt,
    sha256: Annotated[
        str | None, typer.Option(help="A file's SHA-256: where did it come from")
    ] = None,
    period: Annotated[str | None, typer.Option(help="YYYYMM")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 100,
    as_json: JsonOpt = False,
) -> None:
    """The register of generated reports of a jurisdiction's subtree."""
    user = acting()
    rows = read(lambda s: routes.read_records(s, user, jurisdiction, sha256, period, limit))
    columns = [
        "id",
        "kind",
        "jurisdiction",
        "fund",
        "period",
        "sha256",
        "size_bytes",
        "generated_by",
        "generated_at",
    ]
    show(rows, as_json=as_json, title="report records",
         render=lambda d: [terminal.rows_table("report records", d, columns)])  # fmt: skip


def _findings_tables(doc: dict[str, Any]) -> list[Table]:
    title = f"findings of {terminal.jurisdiction_label(doc['jurisdiction'])}, {doc['period']}"
    columns = ["rule", "severity", "count", "open", "acknowledged", "resolved"]
    detail = ["finding_id", "rule", "severity", "jurisdiction", "batch_id", "message", "status"]
    return [
        terminal.rows_table(f"{title} ({doc['count']} distinct)", doc["by_rule"], columns),
        terminal.rows_table("findings", doc["findings"], detail),
    ]


@findings_app.command("list")
def findings_list(
    code: CodeArg,
    period: PeriodOpt,
    run: Annotated[str | None, typer.Option("--run", help="A stored run's id")] = None,
    as_json: JsonOpt = False,
) -> None:
    """The findings of a subtree for a period, counted once and grouped by rule."""
    user = acting()
    found = read(lambda s: routes.list_findings(code, s, user, period, run))
    show(found, as_json=as_json, title="findings", render=_findings_tables)


@findings_app.command("run")
def findings_run(code: CodeArg, period: PeriodOpt, as_json: JsonOpt = False) -> None:
    """Evaluate the rules and store the run, so that day's findings stay on record."""
    user = acting()
    write = CommandWrite(user, "cli:findings run", audit_action=True)
    request = body(FindingRunCreate, period=period)
    with console.status("evaluating the rules…"):
        made = read(lambda s: routes.create_findings_run(code, request, s, user, write))
    show(made, as_json=as_json, title=f"findings run {made.run_id}")


@findings_app.command("export")
def findings_csv_export(
    code: CodeArg, period: PeriodOpt, out: OutCsvOpt, as_json: JsonOpt = False
) -> None:
    """Every finding as CSV (UTF-8 with BOM; formula-like cells neutralised), recorded."""
    user = acting()
    routes.require_audit_reader(user, code)
    with session_scope() as session:
        get_jurisdiction(session, code)
        scope = report_scope(session, code, check_period(period))
        payload = findings.findings_csv(findings.all_findings(session, scope))
    made = operator_write(
        get_engine(),
        action="cli:findings export",
        operator=operator_name(),
        principal=user,
        object_type="report_record",
        work=lambda s: {
            "record_id": service.record_findings_export(
                s, scope=scope, payload=payload, generated_by=user.username
            )
        },
    )
    out.write_bytes(payload)
    answer = {"out": str(out), "bytes": len(payload), "record_id": made["record_id"]}
    show(answer, as_json=as_json, title="findings exported")


def _trace_tables(doc: dict[str, Any]) -> list[Table]:
    summary, page = doc["summary"], doc["payouts"]
    title = (
        f"fund trace of {terminal.jurisdiction_label(summary['jurisdiction'])}, "
        f"{summary['fund']} {summary['period']}: allocated {summary['allocated']}, "
        f"transferred {summary['transferred']}, batched {summary['batched']}, "
        f"paid {summary['paid']}"
    )
    more = f" (more: --cursor {page['next_cursor']})" if page["has_more"] else ""
    return [
        terminal.rows_table(title + " — allocations", summary["allocations"]),
        terminal.rows_table("transfers down the tree", summary["transfers"]),
        terminal.rows_table("batches", summary["batches"]),
        terminal.rows_table("payouts" + more, page["items"]),
    ]


def trace(
    code: CodeArg,
    fund: Annotated[str, typer.Option("--fund", help="Fund code or budget function code")],
    period: PeriodOpt,
    fmt: Annotated[
        Format | None, typer.Option("--format", help="csv or xlsx: the whole trace as a file")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="File to write (with --format)")] = None,
    cursor: Annotated[str | None, typer.Option("--cursor", help="next_cursor of a page")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 100,
    as_json: JsonOpt = False,
) -> None:
    """Trace a fund: allocations → transfers down the tree → batches → each payout (masked),
    the entry and the bank-file line that settled it, the roster row. With --format and --out,
    the whole trace as CSV or XLSX, recorded as a report file."""
    user = acting()
    if (fmt is None) != (out is None):
        raise typer.BadParameter("give --format and --out together", param_hint="--out")
    if fmt is not None and out is not None:
        routes.require_audit_reader(user, code)
        built = _recorded(
            "cli:trace",
            user.username,
            lambda s: service.build_export(
                s, what="trace", fmt=fmt.value, jurisdiction=code, period=period, fund=fund,
                generated_by=user.username,
            ),
        )  # fmt: skip
        _done(built, out)
        return
    doc = read(
        lambda s: {
            "summary": routes.read_trace_summary(code, s, user, fund, period),
            "payouts": routes.read_trace(code, s, user, fund, period, cursor, limit),
        }
    )
    show(doc, as_json=as_json, title="fund trace", render=_trace_tables)


def audit_bundle(
    jurisdiction: JurisdictionOpt,
    period: PeriodOpt,
    out: Annotated[Path, typer.Option("--out", help="The zip file to write")],
    as_json: JsonOpt = False,
) -> None:
    """The offline audit bundle: audit and disclosure PDFs, fund traces and findings as CSV,
    the checkpoint, payout proofs, a README on checking them and a SHA-256 manifest (with
    --as: an auditor or admin in scope; without, the operator)."""
    user = acting_or_none()
    if user is not None:
        routes.require_audit_reader(user, jurisdiction)
    with console.status("building the audit bundle…"):
        made = bundle.write_audit_bundle(
            get_engine(),
            jurisdiction=jurisdiction,
            period=period,
            out=out,
            operator=operator_name(),
            principal=user,
        )
    answer = {
        "out": str(made.path),
        "files": made.files,
        "checkpoint": {"tree_size": made.checkpoint.tree_size, "root": made.checkpoint.root},
        "proofs": made.proofs,
        "record_ids": made.record_ids,
    }
    show(answer, as_json=as_json, title=f"audit bundle {out}")


@report_app.command("performance")
def performance(
    code: Annotated[str, typer.Argument(help="Division code (440000: the province-wide ranking)")],
    period: PeriodOpt,
    as_json: Annotated[bool, typer.Option("--json", help="The API's JSON answer")] = False,
) -> None:
    """Performance evaluation (绩效评价) of the subtree's jurisdictions and funds, ranked."""
    user = acting()
    rows = read(lambda s: routes.read_performance(code, s, user, period))
    columns = ["rank", "jurisdiction", "jurisdiction_name", "fund", "execution_rate", "payouts"]
    show(rows, as_json=as_json, title="performance",
         render=lambda d: [terminal.rows_table("绩效评价", d, columns)])  # fmt: skip


@report_app.command("person")
def person_pdf(
    id_number: Annotated[
        str | None, typer.Option(help="The person's ID number (asked for without echo)")
    ] = None,
    key: Annotated[
        str | None, typer.Option("--key", help="Or the person_key a lookup gave")
    ] = None,
    out: Annotated[Path, typer.Option("--out", help="PDF file to write")] = Path("person.pdf"),
) -> None:
    """The person file (一人一档) as a PDF, masked for the acting user; the reading is recorded."""
    import io

    from ledger.people import service as people
    from reports.pdf.person import render_person

    user = acting()
    if key is None:
        key = people.key_of(id_number or typer.prompt("ID number", hide_input=True))
    read_key = key
    person = operator_write(
        get_engine(),
        action="cli:report person",
        operator=operator_name(),
        principal=user,
        object_type="person",
        object_id=read_key,
        work=lambda s: people.person_file(s, key=read_key, principal=user).model_dump(mode="json"),
    )
    from ledger.people.models import PersonFile

    buf = io.BytesIO()
    render_person(PersonFile(**person), buf, generated_on=date.today())
    out.write_bytes(buf.getvalue())
    console.print(f"{out}: {len(buf.getvalue()):,} bytes")
