"""``ledger report …``: build a report file on the command line (honours LEDGER_DATABASE_URL)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy.orm import Session

from ledger.db import get_engine, session_scope
from ledger.evidence.service import printed_checkpoint
from ledger.uow import operator_write
from reports import data, service

console = Console(stderr=True)
report_app = typer.Typer(help="Disclosure and audit PDFs", no_args_is_help=True)

JurisdictionOpt = Annotated[str, typer.Option("--jurisdiction", help="Division code, e.g. 440103")]
PeriodOpt = Annotated[
    str, typer.Option("--period", help="YYYYMM, e.g. $(date +%Y%m) for the current month")
]
OutOpt = Annotated[Path, typer.Option("--out", help="PDF file to write")]
ByOpt = Annotated[str, typer.Option("--by", help="Recorded as who generated the file")]


def _recorded(
    action: str, by: str, build: Callable[[Session], service.BuiltReport]
) -> service.BuiltReport:
    """Build in a unit of work: the report's record and its audit row commit together."""
    built: list[service.BuiltReport] = []

    def work(s: Session) -> dict[str, int]:
        built.append(build(s))
        return {"record_id": built[0].record_id}

    operator_write(get_engine(), action=action, operator=by, object_type="report_record", work=work)
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
    """The public disclosure (公示) of one jurisdiction, fund and period."""
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
    """The audit report (审计报告) of one jurisdiction and period."""
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
