"""``ledger checkpoint`` and ``ledger proof …``: checkpoints and proofs as files for auditors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from sqlalchemy.orm import Session

from ledger.db import get_engine, session_scope
from ledger.errors import NotFound
from ledger.evidence import checkpoint as cp
from ledger.evidence import service
from ledger.evidence.merkle import ProofError, consistency_proof, verify_consistency
from ledger.uow import operator_name, operator_write

console = Console(stderr=True)
proof_app = typer.Typer(help="Proofs between checkpoints, checked as they are printed")


def read_checkpoint_or_exit(path: Path) -> cp.Checkpoint:
    """A checkpoint file read and its signature checked; a clear error and exit 2 otherwise."""
    try:
        return cp.read_file(path)
    except cp.CheckpointError as exc:
        where = f" ({exc.field})" if exc.field else ""
        console.print(f"[red]checkpoint {path} refused{where}: {exc}[/red]")
        raise typer.Exit(2) from None


def write_json(path: Path, doc: Any) -> None:
    """Written whole or not at all: to a temporary name, then renamed."""
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


def checkpoint(
    out: Annotated[Path | None, typer.Option(help="Also write the checkpoint to this file")] = None,
) -> None:
    """Sign the journal as it stands (tree size, root, chain head, every chain's head) and store it."""
    made: list[cp.Checkpoint] = []

    def work(session: Session) -> dict[str, Any]:
        made.append(service.make_checkpoint(session))
        return {"tree_size": made[0].tree_size, "root": made[0].root}

    try:
        operator_write(
            get_engine(),
            action="cli:checkpoint",
            operator=operator_name(),
            object_type="checkpoint",
            work=work,
        )
        signed = made[0]
    except (cp.CheckpointError, service.EvidenceError) as exc:
        console.print(f"[red]no checkpoint made: {exc}[/red]")
        raise typer.Exit(2) from None
    if out is not None:
        write_json(out, signed.as_dict())
    print(signed.to_json(), end="")
    console.print(
        f"[green]checkpoint[/green] {signed.tree_size} entries, root {signed.root}, "
        f"key {signed.key_id}" + (f", written to {out}" if out else "")
    )


@proof_app.command("consistency")
def proof_consistency(
    old: Annotated[Path, typer.Argument(help="The earlier checkpoint file")],
    new: Annotated[Path, typer.Argument(help="The later checkpoint file")],
) -> None:
    """Print the RFC 9162 consistency proof from OLD to NEW and check it against both roots."""
    first, second = read_checkpoint_or_exit(old), read_checkpoint_or_exit(new)
    if first.key_id != second.key_id:
        console.print(
            f"[red]the checkpoints are signed by different keys: {first.key_id}, {second.key_id}[/red]"
        )
        raise typer.Exit(2)
    if first.tree_size > second.tree_size:
        console.print(
            f"[red]{old} ({first.tree_size}) is larger than {new} ({second.tree_size})[/red]"
        )
        raise typer.Exit(2)
    try:
        with session_scope() as session:
            proof = consistency_proof(
                first.tree_size, second.tree_size, service.StoredTree(session).subtree
            )
    except service.EvidenceError as exc:
        console.print(f"[red]no proof: {exc}[/red]")
        raise typer.Exit(1) from None
    doc = {
        "old_size": first.tree_size,
        "old_root": first.root,
        "new_size": second.tree_size,
        "new_root": second.root,
        "proof": [p.hex() for p in proof],
    }
    print(json.dumps(doc, indent=2))
    try:
        verify_consistency(
            first.tree_size,
            second.tree_size,
            bytes.fromhex(first.root),
            bytes.fromhex(second.root),
            proof,
        )
    except ProofError as exc:
        console.print(f"[red]the checkpoints are NOT consistent: {exc}[/red]")
        raise typer.Exit(1) from None
    console.print(
        f"[green]consistent[/green]: the tree of {second.tree_size} extends the tree of "
        f"{first.tree_size}"
    )


checkpoints_app = typer.Typer(help="Signed checkpoints as stored", no_args_is_help=True)


@checkpoints_app.command("show")
def checkpoint_show(
    size: Annotated[
        int | None, typer.Argument(min=0, help="Tree size; default the latest checkpoint")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The checkpoint file itself")] = False,
) -> None:
    """A stored checkpoint (the latest, or the last made at tree size SIZE)."""
    from ledger.evidence.routes import CheckpointPublic
    from ledger.terminal import show

    with session_scope() as session:
        found = (
            service.latest_checkpoint(session)
            if size is None
            else service.checkpoint_at(session, size)
        )
    if found is None:
        raise NotFound(
            "no checkpoint " + ("has been made yet" if size is None else f"at tree size {size}")
        )
    show(CheckpointPublic.model_validate(found.as_dict()), as_json=as_json, title="checkpoint")
