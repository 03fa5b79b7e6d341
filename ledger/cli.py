"""The ``ledger`` console command. ``ledger.main`` mounts every package's commands onto it."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from ledger import db
from ledger.access import service as access
from ledger.db import session_scope
from ledger.journal.verify import verify as verify_books
from ledger.uow import operator_name, operator_write

console = Console(stderr=True)


def build_cli(*, create_app: Callable[..., Any], demo_stages: list[Any]) -> typer.Typer:
    app = typer.Typer(
        help="Social-assistance funds ledger", no_args_is_help=True, add_completion=False
    )
    db_app = typer.Typer(help="Schema migrations (the only way the schema comes into being)")
    users_app = typer.Typer(help="Operators: bureaus and users")
    tokens_app = typer.Typer(help="Operators: API tokens")
    app.add_typer(db_app, name="db")
    app.add_typer(users_app, name="users")
    app.add_typer(tokens_app, name="tokens")

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
        db.backup(db.database_url(), out)
        console.print(f"backup written to {out}")

    @db_app.command("restore")
    def db_restore(
        dump: Annotated[Path, typer.Argument(help="Dump made by `ledger db backup`")],
        target: Annotated[str, typer.Option(help="URL of an EMPTY database to restore into")],
    ) -> None:
        """Restore a dump into an empty database."""
        db.restore(dump, db.to_sqlalchemy_url(target))
        console.print("restored; now run `LEDGER_DATABASE_URL=<target> ledger verify`")

    @app.command()
    def seed() -> None:
        """Load the Guangdong division tree and the fund catalog."""
        from ledger.jurisdictions.service import seed_reference_data

        db.upgrade(db.database_url())
        console.print(
            operator_write(
                db.get_engine(),
                action="cli:seed",
                operator=operator_name(),
                work=lambda s: seed_reference_data(session=s),
            )
        )

    @app.command()
    def verify(
        checkpoint: Annotated[
            Path | None,
            typer.Option(help="A checkpoint file: prove today's journal extends it"),
        ] = None,
    ) -> None:
        """Recompute the hash chain and every invariant; exit 1 naming the first broken entry.

        With --checkpoint, also prove by a consistency proof that today's journal extends the
        checkpoint and every chain still holds the link it recorded: a removed or rewritten tail
        fails, naming the first entry missing or changed."""
        from ledger.evidence.checkpoint import CheckpointError
        from ledger.evidence.cli import read_checkpoint_or_exit
        from ledger.evidence.service import signer_key_id, verify_against_checkpoint

        given = read_checkpoint_or_exit(checkpoint) if checkpoint else None
        with session_scope() as session:
            report = verify_books(session)
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
        print(json.dumps(doc, ensure_ascii=False, indent=2))
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
    def serve(host: str = "127.0.0.1", port: int = 8000, workers: int = 1) -> None:
        """Start the HTTP API (OpenAPI at /docs and /openapi.json)."""
        import uvicorn

        db.upgrade(db.database_url())
        if workers > 1:  # worker processes import the factory themselves
            uvicorn.run(
                "ledger.main:create_app", factory=True, host=host, port=port, workers=workers
            )
        else:
            uvicorn.run(create_app(), host=host, port=port)

    @app.command()
    def demo(
        out: Annotated[
            Path, typer.Option(help="Directory for summary.json, bank files and reports")
        ] = Path("demo-out"),
        size: Annotated[int, typer.Option(help="Households per county")] = 40,
        counties: Annotated[int, typer.Option(help="How many counties pay (0 = all 122)")] = 0,
        until: Annotated[
            str | None, typer.Option(help="Stop after this stage (e.g. released)")
        ] = None,
    ) -> None:
        """Run a whole month of every capability on the configured (or embedded) database."""
        from ledger.demo import run_demo

        summary = run_demo(
            stages=demo_stages,
            out=out,
            size=size,
            counties=counties,
            until=until,
            create_app=create_app,
        )
        if not summary.get("verify", {}).get("ok", False):
            console.print("[red]demo finished but verification failed[/red]")
            raise typer.Exit(1)

    @users_app.command("add")
    def users_add(
        username: str,
        jurisdiction: Annotated[str, typer.Option(help="Division code of the bureau")],
        role: Annotated[str, typer.Option(help="finance | civil_affairs | bank | auditor | admin")],
        bureau: Annotated[str, typer.Option(help="Bureau name, e.g. 荔湾区财政局")],
        display_name: Annotated[str | None, typer.Option()] = None,
        bank: Annotated[str | None, typer.Option(help="Bank code, for bank users")] = None,
    ) -> None:
        """Create a user (and its bureau when new)."""
        kind = access.ROLE_BUREAU.get(role)
        if kind is None:
            raise typer.BadParameter(f"role must be one of {', '.join(access.ROLES)}")

        def work(session: Any) -> dict[str, Any]:
            bureau_id = access.create_bureau(
                session, jurisdiction=jurisdiction, kind=kind, name=bureau, bank_code=bank
            )
            uid = access.create_user(
                session,
                username=username,
                display_name=display_name or username,
                bureau_id=bureau_id,
                role=role,
            )
            return {"user_id": uid}

        made = operator_write(
            db.get_engine(),
            action="cli:users add",
            operator=operator_name(),
            object_type="app_user",
            object_id=username,
            work=work,
        )
        console.print(f"user {username} created (id {made['user_id']})")

    @tokens_app.command("issue")
    def tokens_issue(username: str, days: int = 30, label: str = "") -> None:
        """Issue an API token; it is printed once and stored only hashed."""
        from sqlalchemy import text

        with session_scope() as session:
            uid = session.execute(
                text("SELECT id FROM app_user WHERE username = :u"), {"u": username}
            ).scalar()
        if uid is None:
            console.print(f"[red]no user {username}[/red]")
            raise typer.Exit(2)
        issued = operator_write(
            db.get_engine(),
            action="cli:tokens issue",
            operator=operator_name(),
            object_type="app_user",
            object_id=username,
            work=lambda s: {"token": access.issue_token(s, user_id=uid, days=days, label=label)},
        )
        print(issued["token"])

    @tokens_app.command("revoke")
    def tokens_revoke(
        token: Annotated[str | None, typer.Argument(help="The token itself")] = None,
        token_id: Annotated[int | None, typer.Option("--id", help="A token's id")] = None,
        user: Annotated[str | None, typer.Option(help="Revoke every live token of a user")] = None,
    ) -> None:
        """Revoke one token (by value or --id) or every live token of a user (--user)."""
        if (token, token_id, user).count(None) != 2:
            raise typer.BadParameter("give exactly one of: TOKEN, --id, --user")
        count = operator_write(
            db.get_engine(),
            action="cli:tokens revoke",
            operator=operator_name(),
            object_type="api_token",
            object_id=str(token_id) if token_id else user,
            work=lambda s: {
                "revoked": access.revoke_tokens(s, token=token, token_id=token_id, username=user)
            },
        )["revoked"]
        if not count:
            console.print("[red]no such active token[/red]")
            sys.exit(2)
        console.print(f"revoked {count} token(s)")

    @users_app.command("list")
    def users_list(
        jurisdiction: Annotated[
            str | None, typer.Option(help="Only bureaus in this division's subtree")
        ] = None,
    ) -> None:
        """List users with their bureau, role and live token count."""
        with session_scope() as session:
            rows = access.list_users(session, jurisdiction=jurisdiction)
        for r in rows:
            print(
                f"{r['username']}\t{r['role']}\t{r['jurisdiction']}\t{r['bureau']}\t"
                f"{r['bank_code'] or '-'}\t{'active' if r['active'] else 'disabled'}\t"
                f"tokens={r['live_tokens']}"
            )
        console.print(f"{len(rows)} user(s)")

    app.info.epilog = None
    app.registered_commands.sort(key=lambda c: c.name or "")
    app.demo_stages = demo_stages  # type: ignore[attr-defined]
    return app
