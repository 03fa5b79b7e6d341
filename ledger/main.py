"""The one module that assembles the application: routers, CLI commands and demo stages of
``ledger``, ``reconciliation`` and ``reports``."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy import Engine

from ledger import cli as core_cli
from ledger import commands, demo
from ledger.access.audit import install_audit_log  # access & documents
from ledger.access.routes import router as access_router  # access & documents
from ledger.api import install_error_handlers, install_request_ids
from ledger.batches.demo import BATCH_STAGES  # batches
from ledger.batches.routes import router as batches_router  # batches
from ledger.complaints.routes import router as complaints_router  # notice: complaints
from ledger.console.routes import install_console  # console
from ledger.documents.routes import router as documents_router  # access & documents
from ledger.evidence import cli as evidence_cli  # evidence
from ledger.evidence.routes import router as evidence_router  # evidence
from ledger.evidence.service import EVIDENCE_CHECKS  # evidence
from ledger.jobs import cli as jobs_cli  # reliability: the job queue
from ledger.jobs.routes import router as jobs_router  # reliability: the job queue
from ledger.journal.routes import router as books_router
from ledger.journal.verify import EXTRA_CHECKS
from ledger.limits import UploadLimit  # reliability
from ledger.people.cli import person_app  # notice: the person file
from ledger.people.routes import router as people_router  # notice: the person file
from ledger.registers import demo as notice_demo  # notice
from ledger.registers.routes import router as registers_router  # notice: holdings, reviews
from ledger.roster.routes import router as roster_router  # batches
from reconciliation import cli as reconcile_cli
from reconciliation.demo import stage_reconciled
from reconciliation.routes import router as reconciliation_router
from reconciliation.service import check_suspense
from reports import cli as report_cli
from reports import demo as report_demo
from reports.routes import router as reports_router


def operation_id(route: APIRoute) -> str:
    """Readable operation ids: the route function's name (unique across the app, by test)."""
    return route.name


def create_app(engine: Engine | None = None) -> FastAPI:
    app = FastAPI(
        generate_unique_id_function=operation_id,
        docs_url=None,
        redoc_url=None,
        title="Social-assistance funds ledger",
        version="0.1.0",
        description=(
            "Double-entry ledger for Guangdong social-assistance funds (专款专用): allocations, "
            "transfer payments, payment batches, bank reconciliation, disclosure and audit reports. "
            "Amounts are decimal strings in yuan with at most two places. Every write needs an "
            "Idempotency-Key header. Errors share one shape: {error: {code, message, details[]}}."
        ),
    )
    app.state.engine = engine

    @app.on_event("shutdown")
    def _stop_poster() -> None:
        poster = getattr(app.state, "poster", None)
        if poster is not None:
            poster.close()

    install_error_handlers(app)
    # Innermost first. The upload limit sits inside the audit log, so a 413 (declared or
    # streamed) is recorded as the refusal it is; the audit log inside the request-id
    # middleware, so each row carries the id.
    app.add_middleware(UploadLimit)  # reliability: oversize bodies refused (413) before reading
    install_audit_log(app)
    install_request_ids(app)
    app.include_router(books_router)
    app.include_router(access_router)  # access & documents
    app.include_router(documents_router)  # access & documents
    # before the roster's /registers/{kind}: /registers/holdings is matched first
    app.include_router(registers_router)  # notice: holdings, reviews
    app.include_router(roster_router)  # batches
    app.include_router(people_router)  # notice: the person file
    app.include_router(complaints_router)  # notice: complaints
    app.include_router(batches_router)  # batches
    app.include_router(reconciliation_router)
    app.include_router(reports_router)
    app.include_router(jobs_router)  # reliability: the job queue
    app.include_router(evidence_router)  # evidence
    install_console(app)  # console: pages at /, vendored /docs and /redoc
    return app


DEMO_STAGES: list[demo.Stage] = [
    *demo.CORE_STAGES,
    *BATCH_STAGES,  # batches: roster, released
    demo.Stage(
        "reconciled", stage_reconciled, "banks answer every released batch; the answers are applied"
    ),  # after the batches stages
    *notice_demo.STAGES,  # notice: after the banks answered, before the reports
    *report_demo.STAGES,
    demo.Stage(
        "evidence",
        report_demo.stage_evidence,
        "a checkpoint and a payout proof as files, checked offline; the audit bundle",
    ),  # after the reports stage
]

cli = core_cli.build_cli(create_app=create_app, demo_stages=DEMO_STAGES)
commands.mount(cli)  # the API's ledger operations as commands
cli.add_typer(reconcile_cli.bank_files_app, name="bank-files")  # reconciliation
cli.add_typer(reconcile_cli.exceptions_app, name="exceptions")  # reconciliation
cli.add_typer(report_cli.report_app, name="report")  # reports: ledger report disclosure|audit
cli.add_typer(report_cli.findings_app, name="findings")  # reports
cli.command("trace")(report_cli.trace)  # reports: the fund trace
cli.command("audit-bundle")(report_cli.audit_bundle)  # reports: the offline audit bundle
cli.command("worker")(jobs_cli.worker)  # reliability: ledger worker
cli.add_typer(jobs_cli.jobs_app, name="jobs")  # reliability: ledger jobs show ID
cli.command("checkpoint")(evidence_cli.checkpoint)  # evidence
cli.add_typer(evidence_cli.checkpoints_app, name="checkpoints")  # evidence
cli.add_typer(person_app, name="person")  # notice: ledger person show
cli.add_typer(evidence_cli.proof_app, name="proof")  # evidence: ledger proof consistency
if check_suspense not in EXTRA_CHECKS:
    EXTRA_CHECKS.append(check_suspense)  # reconciliation: suspense = unplaced bank lines
EXTRA_CHECKS.extend(c for c in EVIDENCE_CHECKS if c not in EXTRA_CHECKS)  # evidence chains
