"""The ``ledger`` console command. ``ledger.main`` mounts every package's commands onto it.

Errors print the API's error shape (message, field, reason) with an exit code per kind
(``ledger.terminal``); ``--debug`` shows the traceback instead. A one-shot command that had to
start the embedded PostgreSQL stops it on exit unless ``ledger db start`` holds it.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.panel import Panel
from typer.core import TyperGroup

from ledger import db, terminal
from ledger.access import service as access
from ledger.access.deps import require_scope
from ledger.access.models import (
    BankCreate,
    BankPublic,
    TokenCreate,
    TokenIssued,
    TokensRevoked,
    UserCreate,
    UserPublic,
)
from ledger.access.routes import require_admin
from ledger.acting import acting_as, acting_or_none
from ledger.commands import body
from ledger.config import get_settings
from ledger.db import session_scope
from ledger.errors import Forbidden, NotFound
from ledger.journal.verify import verify as verify_books
from ledger.money import format_yuan, parse_amount_fen
from ledger.terminal import console, fund_label, jurisdiction_label, print_json, table
from ledger.uow import operator_name, operator_write

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine output: the JSON answer")]
EXIT_UNEXPECTED = 8
_json_errors: ContextVar[bool] = ContextVar("json_errors", default=False)


class LedgerGroup(TyperGroup):
    """Turns the errors a user can act on into a message and an exit code, and lets the embedded
    server go when the command that started it is done."""

    def invoke(self, ctx: Any) -> Any:
        json_errors = _json_errors.set(False)
        acting = acting_as.set(None)
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except Exception as exc:
            if ctx.meta.get("ledger.debug"):
                raise
            code = terminal.exit_code(exc)
            if code is None:
                console.print(
                    f"[bold red]unexpected error[/bold red] {type(exc).__name__}: {exc}\n"
                    "run again with `ledger --debug …` for the traceback"
                )
                raise typer.Exit(EXIT_UNEXPECTED) from None
            terminal.show_error(exc, as_json=_json_errors.get())
            raise typer.Exit(code) from None
        finally:
            _json_errors.reset(json_errors)
            acting_as.reset(acting)
            db.release_embedded()


def _package_version() -> str:
    try:
        return version("gd-assistance-ledger")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


def _version(value: bool) -> None:
    if value:
        print(f"ledger {_package_version()}")
        raise typer.Exit()


def _json_mode(as_json: bool) -> bool:
    """Remember --json, so an error is also printed as JSON."""
    if as_json:
        _json_errors.set(True)
    return as_json


def build_cli(*, create_app: Callable[..., Any], demo_stages: list[Any]) -> typer.Typer:
    app = typer.Typer(
        cls=LedgerGroup,
        help="Social-assistance funds ledger",
        no_args_is_help=True,
        add_completion=True,
        pretty_exceptions_show_locals=False,
    )
    db_app = typer.Typer(
        help="The database: migrations, backups and the embedded server", no_args_is_help=True
    )
    users_app = typer.Typer(help="Operators: bureaus and users", no_args_is_help=True)
    tokens_app = typer.Typer(help="Operators: API tokens", no_args_is_help=True)
    banks_app = typer.Typer(help="Banks and the counties they pay in", no_args_is_help=True)
    app.add_typer(banks_app, name="banks")
    app.add_typer(db_app, name="db")
    app.add_typer(users_app, name="users")
    app.add_typer(tokens_app, name="tokens")

    @app.callback()
    def main(
        ctx: typer.Context,
        as_user: Annotated[
            str | None,
            typer.Option(
                "--as",
                envvar="LEDGER_AS",
                metavar="USERNAME",
                help="Act as this user: their role, scope and four-eyes rules, as over the API",
            ),
        ] = None,
        debug: Annotated[
            bool, typer.Option("--debug", help="Show the traceback of an error")
        ] = False,
        _version_flag: Annotated[
            bool,
            typer.Option(
                "--version", callback=_version, is_eager=True, help="Print the version and exit"
            ),
        ] = False,
    ) -> None:
        ctx.meta["ledger.debug"] = debug
        acting_as.set(as_user)

    @db_app.command("upgrade")
    def db_upgrade(revision: str = "heads") -> None:
        """Apply migrations up to REVISION (default: all heads)."""
        db.upgrade(db.database_url(), revision)
        console.print(f"schema upgraded to {revision}")

    @db_app.command("downgrade")
    def db_downgrade(revision: str = "base") -> None:
        """Revert migrations down to REVISION (default: base, an empty schema)."""
        db.downgrade(db.database_url(), revision)
        console.print(f"schema downgraded to {revision}")

    @db_app.command("backup")
    def db_backup(
        out: Annotated[Path, typer.Argument(help="Dump file to write (pg_dump custom format)")],
    ) -> None:
        """Dump the database; restore it with `ledger db restore` and check it with `ledger verify`."""
        with console.status("dumping the database…"):
            db.backup(db.database_url(), out)
        console.print(f"backup written to {out}")

    @db_app.command("restore")
    def db_restore(
        dump: Annotated[Path, typer.Argument(help="Dump made by `ledger db backup`")],
        target: Annotated[str, typer.Option(help="URL of an EMPTY database to restore into")],
    ) -> None:
        """Restore a dump into an empty database."""
        with console.status("restoring…"):
            db.restore(dump, db.to_sqlalchemy_url(target))
        console.print("restored; now run `LEDGER_DATABASE_URL=<target> ledger verify`")

    def _embedded_only(action: str) -> Path:
        settings = get_settings()
        if settings.database_url:
            raise typer.BadParameter(
                f"LEDGER_DATABASE_URL is set: there is no embedded server to {action}"
            )
        return settings.data_dir

    @db_app.command("start")
    def db_start(as_json: JsonOpt = False) -> None:
        """Start the embedded PostgreSQL and keep it running until `ledger db stop`."""
        data_dir = _embedded_only("start")
        with console.status("starting the embedded PostgreSQL…"):
            status = db.hold_embedded(data_dir)
        _show_status(status, as_json)

    @db_app.command("stop")
    def db_stop() -> None:
        """Stop the embedded PostgreSQL (and release the hold of `ledger db start`)."""
        data_dir = _embedded_only("stop")
        with console.status("stopping the embedded PostgreSQL…"):
            stopped = db.stop_embedded(data_dir)
        console.print("embedded PostgreSQL stopped" if stopped else "it was not running")

    @db_app.command("status")
    def db_status(as_json: JsonOpt = False) -> None:
        """Whether the embedded PostgreSQL runs, who uses it, and whether it is held."""
        settings = get_settings()
        if settings.database_url:
            if _json_mode(as_json):
                print_json({"embedded": False})
            else:
                console.print("LEDGER_DATABASE_URL is set: an external server, not embedded")
            return
        _show_status(db.embedded_status(settings.data_dir), as_json)

    def _show_status(status: db.EmbeddedStatus, as_json: bool) -> None:
        answer = {
            "embedded": True,
            "running": status.running,
            "pid": status.pid,
            "socket_dir": str(status.socket_dir) if status.socket_dir else None,
            "pgdata": str(status.pgdata),
            "held": status.held,
            "users": status.users,
        }
        if _json_mode(as_json):
            print_json(answer)
            return
        state = "[green]running[/green]" if status.running else "[yellow]stopped[/yellow]"
        lines = [f"embedded PostgreSQL {state}", f"data   {status.pgdata}"]
        if status.running:
            lines += [f"pid    {status.pid}", f"socket {status.socket_dir}"]
            lines.append(
                "held by `ledger db start` until `ledger db stop`"
                if status.held
                else "not held: the command that started it stops it"
            )
        terminal.stdout.print(Panel("\n".join(lines), title="ledger db status", expand=False))

    @app.command()
    def seed(as_json: JsonOpt = False) -> None:
        """Load the Guangdong division tree and the fund catalog."""
        from ledger.jurisdictions.service import seed_reference_data

        db.upgrade(db.database_url())
        counts = operator_write(
            db.get_engine(),
            action="cli:seed",
            operator=operator_name(),
            work=lambda s: seed_reference_data(session=s),
        )
        if _json_mode(as_json):
            print_json(counts)
            return
        terminal.stdout.print(
            Panel(
                f"{counts['jurisdictions']} divisions (Guangdong, GB/T 2260), "
                f"{counts['funds']} funds",
                title="reference data",
                expand=False,
            )
        )

    @app.command()
    def verify(
        checkpoint: Annotated[
            Path | None,
            typer.Option(help="A checkpoint file: prove today's journal extends it"),
        ] = None,
        archive: Annotated[
            Path | None,
            typer.Option(
                help="A directory of period archives: re-read their files and recompute the "
                "batch roots from the archived lines"
            ),
        ] = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Recompute the hash chain and every invariant; exit 1 naming the first broken entry.

        With --checkpoint, also prove by a consistency proof that today's journal extends the
        checkpoint and every chain still holds the link it recorded: a removed or rewritten tail
        fails, naming the first entry missing or changed."""
        from ledger.evidence.checkpoint import CheckpointError
        from ledger.evidence.cli import read_checkpoint_or_exit
        from ledger.evidence.service import signer_key_id, verify_against_checkpoint

        given = read_checkpoint_or_exit(checkpoint) if checkpoint else None
        with session_scope() as session, console.status("verifying the books…"):
            report = verify_books(session, archive_dir=archive)
            against = None
            if given is not None:
                try:
                    against = verify_against_checkpoint(
                        session, given, trusted_key_id=signer_key_id()
                    )
                except CheckpointError as exc:
                    console.print(f"[red]checkpoint {checkpoint} refused: {exc}[/red]")
                    raise typer.Exit(2) from None
        if against is not None and not against.ok:
            report.ok = False
            named = [e for e in (report.first_broken_entry, against.first_bad_entry) if e]
            report.first_broken_entry = min(named) if named else None
        doc = report.as_dict()
        if against is not None:
            doc["checkpoint"] = against.as_dict()
        if _json_mode(as_json):
            print_json(doc)
        else:
            rows: list[list[Any]] = [
                ["result", "[green]ok[/green]" if report.ok else "[red]FAILED[/red]"],
                ["journal entries", f"{report.entry_count:,}"],
                ["chain head", report.chain_head],
                ["first broken entry", report.first_broken_entry or "-"],
                ["checked at", report.checked_at],
                ["periods checked live", ", ".join(report.periods_live) or "-"],
                [
                    "periods archived",
                    ", ".join(report.periods_archived)
                    + (" (files re-read)" if report.archive_files_checked else " (by digests)")
                    if report.periods_archived
                    else "-",
                ],
            ]
            if against is not None:
                rows.append(
                    [
                        "checkpoint",
                        f"{given.tree_size if given else '?'} entries: "
                        + ("[green]extended[/green]" if against.ok else "[red]NOT extended[/red]"),
                    ]
                )
            terminal.stdout.print(terminal.key_values("verify", rows))
            for problem in report.problems:
                terminal.stdout.print(f"  [red]•[/red] {problem}")
        if not report.ok:
            first = report.first_broken_entry
            console.print(
                "[red]verification FAILED[/red]"
                + (f": first broken entry {first}" if first else "")
            )
            raise typer.Exit(1)
        console.print(
            f"[green]verified[/green] {report.entry_count} entries, head {report.chain_head}"
        )

    @app.command()
    def serve(
        host: str = "127.0.0.1",
        port: int = 8000,
        workers: int = 1,
        worker: Annotated[
            bool,
            typer.Option(
                "--worker/--no-worker",
                help="Run one job worker in this process (large imports); "
                "--no-worker when `ledger worker` runs elsewhere",
            ),
        ] = True,
    ) -> None:
        """Start the HTTP API (OpenAPI at /docs and /openapi.json)."""
        import sys
        import threading

        import uvicorn

        from ledger.jobs.service import run_worker

        db.upgrade(db.database_url())
        stop = threading.Event()
        if worker:
            # The job shares the interpreter with the event loop: a short switch interval keeps
            # each wait of the loop for it short while a large import runs.
            sys.setswitchinterval(0.001)
            thread = threading.Thread(
                target=run_worker, args=(db.get_engine(),), kwargs={"stop": stop}, daemon=True
            )
            thread.start()
        try:
            if workers > 1:  # worker processes import the factory themselves
                uvicorn.run(
                    "ledger.main:create_app", factory=True, host=host, port=port, workers=workers
                )
            else:
                uvicorn.run(create_app(), host=host, port=port)
        finally:
            stop.set()  # a job under way finishes first; one killed with us is reaped as failed
            if worker:
                thread.join(timeout=30)

    @app.command()
    def demo(
        out: Annotated[
            Path, typer.Option(help="Directory for summary.json, bank files and reports")
        ] = Path("demo-out"),
        size: Annotated[int, typer.Option(min=1, help="Households per county")] = 40,
        counties: Annotated[
            int, typer.Option(min=0, help="How many counties pay (0 = all 122)")
        ] = 0,
        until: Annotated[
            str | None, typer.Option(help="Stop after this stage, e.g. released")
        ] = None,
        fresh: Annotated[
            bool,
            typer.Option(
                "--fresh",
                help="Drop the schema and start on an empty database (default: a database "
                "that already holds a demo month continues into the next month)",
            ),
        ] = False,
    ) -> None:
        """Run a whole month of every capability on the configured (or embedded) database."""
        from ledger.demo import run_demo

        if until is not None and until not in {s.name for s in demo_stages}:
            raise typer.BadParameter(
                f"must be one of: {', '.join(s.name for s in demo_stages)}", param_hint="--until"
            )
        if fresh and get_settings().environment == "production":
            raise Forbidden(
                "--fresh drops the whole schema; refused in production",
                [{"field": "--fresh", "reason": "LEDGER_ENVIRONMENT is production"}],
            )
        summary = run_demo(
            stages=demo_stages,
            out=out,
            size=size,
            counties=counties,
            until=until,
            create_app=create_app,
            fresh=fresh,
        )
        _show_demo(summary)
        if not summary.get("verify", {}).get("ok", False):
            console.print("[red]demo finished but verification failed[/red]")
            raise typer.Exit(1)

    def _show_demo(summary: dict[str, Any]) -> None:
        stages = summary["stages"]
        released = stages.get("released", {})
        report = summary.get("report", {})
        rows: list[list[Any]] = [
            ["month", summary["period"]],
            ["continued from", summary["continued_from"] or "- (first month)"],
            ["journal entries", f"{summary['verify']['entry_count']:,}"],
        ]
        if released:
            rows += [
                ["batches released", released["batches"]],
                ["payouts", f"{released['payouts']:,}"],
                [
                    "released (元)",
                    format_yuan(parse_amount_fen(released["total"], allow_zero=True)),
                ],
            ]
        if "reconciled" in stages:
            r = stages["reconciled"]
            rows.append(
                [
                    "paid / failed / returned",
                    f"{r.get('paid', 0):,} / {r.get('failed', 0):,} / {r.get('returned', 0):,}",
                ]
            )
        if report:
            rows.append(
                [
                    "reports of",
                    f"{jurisdiction_label(report['county'])}, {fund_label(report['fund'])}",
                ]
            )
        rows.append(
            ["verify", "[green]ok[/green]" if summary["verify"]["ok"] else "[red]FAILED[/red]"]
        )
        terminal.stdout.print(terminal.key_values("ledger demo", rows))

    def _admin_write(
        action: str,
        work: Callable[[Any], Any],
        object_type: str,
        object_id: str | None = None,
        scope: tuple[str, ...] = (),
    ) -> dict[str, Any]:
        """An administration write: as the operator of this machine, or as the ``--as`` user,
        who must then be a province administrator whose scope covers ``scope``, as over the API."""
        principal = acting_or_none()
        if principal is not None:
            require_admin(principal)
            for jurisdiction in scope:
                require_scope(principal, jurisdiction)
        return operator_write(
            db.get_engine(),
            action=action,
            operator=operator_name(),
            principal=principal,
            object_type=object_type,
            object_id=object_id,
            work=work,
        )

    def _admin_read() -> None:
        principal = acting_or_none()
        if principal is not None:
            require_admin(principal)

    @banks_app.command("add")
    def banks_add(
        code: Annotated[str, typer.Argument(help="Bank code, e.g. ICBCGD")],
        name: Annotated[str, typer.Argument(help="Bank name, e.g. 中国工商银行广东省分行")],
        county: Annotated[
            list[str] | None, typer.Option("--county", help="A county it pays in (repeat)")
        ] = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Register a bank and the counties it serves (again: add counties)."""
        _json_mode(as_json)
        request = body(BankCreate, code=code, name=name, counties=county or [])
        made = _admin_write(
            "cli:banks add",
            lambda s: access.add_bank(
                s, code=request.code, name=request.name, counties=request.counties
            ),
            "bank",
            code,
            scope=tuple(request.counties),
        )
        terminal.show(BankPublic(**made), as_json=as_json, title=f"bank {code}")

    @banks_app.command("list")
    def banks_list(as_json: JsonOpt = False) -> None:
        """Every bank and the counties it pays in."""
        _json_mode(as_json)
        _admin_read()
        with session_scope() as session:
            rows = [BankPublic(**b) for b in access.list_banks(session)]
        terminal.show(rows, as_json=as_json, title="banks")

    @users_app.command("add")
    def users_add(
        username: str,
        jurisdiction: Annotated[str, typer.Option(help="Division code of the bureau")],
        role: Annotated[str, typer.Option(help="finance | civil_affairs | bank | auditor | admin")],
        bureau: Annotated[str, typer.Option(help="Bureau name, e.g. 荔湾区财政局")],
        display_name: Annotated[str | None, typer.Option()] = None,
        bank: Annotated[str | None, typer.Option(help="Bank code, for bank users")] = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Create a user (and its bureau when new)."""
        _json_mode(as_json)
        if role not in access.ROLES:
            raise typer.BadParameter(
                f"must be one of {', '.join(access.ROLES)}", param_hint="--role"
            )
        request = body(
            UserCreate, username=username, jurisdiction=jurisdiction, role=role, bureau=bureau,
            display_name=display_name, bank_code=bank,
        )  # fmt: skip
        made = _admin_write(
            "cli:users add",
            lambda s: access.add_user(s, **request.model_dump()),
            "app_user",
            username,
            scope=(jurisdiction,),
        )
        if as_json:
            print_json(UserPublic(**made).model_dump(mode="json"))
            return
        console.print(
            f"user {username} created (id {made['id']}): {role} of {bureau}, "
            f"{jurisdiction_label(jurisdiction)}"
        )

    @users_app.command("passwd")
    def users_passwd(
        username: str,
        password: Annotated[
            str | None,
            typer.Option(help="The new password (asked for, hidden, when not given)"),
        ] = None,
    ) -> None:
        """Set a user's console password (stored as an argon2 hash); ends their console sessions."""
        from ledger.access.sessions import set_password

        secret = password or typer.prompt("new password", hide_input=True, confirmation_prompt=True)
        operator_write(
            db.get_engine(),
            action="cli:users passwd",
            operator=operator_name(),
            object_type="app_user",
            object_id=username,
            work=lambda s: set_password(s, username=username, password=secret),
        )
        console.print(f"password of {username} set")

    @users_app.command("list")
    def users_list(
        jurisdiction: Annotated[
            str | None, typer.Option(help="Only bureaus in this division's subtree")
        ] = None,
        as_json: JsonOpt = False,
    ) -> None:
        """List users with their bureau, role and live token count."""
        from ledger.jurisdictions.service import get_jurisdiction

        _json_mode(as_json)
        _admin_read()
        with session_scope() as session:
            if jurisdiction is not None:
                get_jurisdiction(session, jurisdiction)
            rows = access.list_users(session, jurisdiction=jurisdiction)
        if as_json:
            print_json([UserPublic(**r).model_dump(mode="json") for r in rows])
            return
        terminal.stdout.print(
            table(
                "users" + (f" of {jurisdiction_label(jurisdiction)}" if jurisdiction else ""),
                ["id", "username", "role", "jurisdiction", "bureau", "bank", "state", "tokens"],
                [
                    [
                        r["id"],
                        r["username"],
                        r["role"],
                        jurisdiction_label(r["jurisdiction"]),
                        r["bureau"],
                        r["bank_code"] or "-",
                        "active" if r["active"] else "disabled",
                        r["live_tokens"],
                    ]
                    for r in rows
                ],
            )
        )
        console.print(f"{len(rows)} user(s)")

    @tokens_app.command("issue")
    def tokens_issue(
        username: str, days: int = 30, label: str = "", as_json: JsonOpt = False
    ) -> None:
        """Issue an API token; it is printed once and stored only hashed."""
        _json_mode(as_json)
        with session_scope() as session:
            user = access.principal_of(session, username)
        request = body(TokenCreate, days=days, label=label)
        made = _admin_write(
            "cli:tokens issue",
            lambda s: {
                "user_id": user.user_id,
                "username": username,
                "token": access.issue_token(
                    s, user_id=user.user_id, days=request.days, label=request.label
                ),
                "days": request.days,
                "label": request.label,
            },
            "app_user",
            username,
        )
        if as_json:
            print_json(TokenIssued(**made).model_dump(mode="json"))
            return
        print(made["token"])
        console.print(f"token for {username}, valid {days} days; it is not shown again")

    @tokens_app.command("revoke")
    def tokens_revoke(
        token: Annotated[str | None, typer.Argument(help="The token itself")] = None,
        token_id: Annotated[int | None, typer.Option("--id", help="A token's id")] = None,
        user: Annotated[str | None, typer.Option(help="Revoke every live token of a user")] = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Revoke one token (by value or --id) or every live token of a user (--user)."""
        _json_mode(as_json)
        if (token, token_id, user).count(None) != 2:
            raise typer.BadParameter("give exactly one of: TOKEN, --id, --user")
        count = _admin_write(
            "cli:tokens revoke",
            lambda s: {
                "revoked": access.revoke_tokens(s, token=token, token_id=token_id, username=user)
            },
            "api_token",
            str(token_id) if token_id else user,
        )["revoked"]
        if not count:
            raise NotFound("no such active token", [{"field": "token", "reason": "not live"}])
        if as_json:
            print_json(TokensRevoked(revoked=count).model_dump(mode="json"))
            return
        console.print(f"revoked {count} token(s)")

    app.info.epilog = None
    app.registered_commands.sort(key=lambda c: c.name or "")
    app.demo_stages = demo_stages  # type: ignore[attr-defined]
    return app


__all__ = ["LedgerGroup", "build_cli"]
