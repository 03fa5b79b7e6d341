"""Checkpoints for anyone signed in, and today's books checked against a checkpoint one holds."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path
from pydantic import BaseModel

from ledger.access.deps import AUDIT_ACTION, CurrentUser, SessionDep
from ledger.errors import ERROR_RESPONSES, NotFound, ValidationFailed
from ledger.evidence import checkpoint as cp
from ledger.evidence import service

router = APIRouter(tags=["evidence"], responses=ERROR_RESPONSES)


class ChainHeadPublic(BaseModel):
    seq: int
    hash: str


class CheckpointPublic(BaseModel):
    """A signed checkpoint exactly as its file: keep it, and check later books against it."""

    format: str
    tree_size: int
    root: str
    chain_head: str
    signed_at: str
    key_id: str
    public_key: str
    heads: dict[str, ChainHeadPublic]
    signature: str


class CheckpointCheck(BaseModel):
    ok: bool
    checkpoint_size: int
    checkpoint_root: str
    key_id: str
    journal_size: int
    journal_root: str
    first_bad_entry: int | None
    consistency_proof: list[str]
    problems: list[str]


def _public(checkpoint: cp.Checkpoint | None, what: str) -> CheckpointPublic:
    if checkpoint is None:
        raise NotFound(f"no checkpoint {what}")
    return CheckpointPublic.model_validate(checkpoint.as_dict())


@router.get("/checkpoints/latest", response_model=CheckpointPublic)
def read_latest_checkpoint(session: SessionDep, user: CurrentUser) -> CheckpointPublic:
    """The last checkpoint made (any signed-in role: it holds digests only)."""
    return _public(service.latest_checkpoint(session), "has been made yet")


@router.get("/checkpoints/{size}", response_model=CheckpointPublic)
def read_checkpoint(
    size: Annotated[int, Path(ge=0, le=2**62)], session: SessionDep, user: CurrentUser
) -> CheckpointPublic:
    """The last checkpoint made when the journal had ``size`` entries."""
    return _public(service.checkpoint_at(session, size), f"at tree size {size}")


@router.post("/verify/checkpoint", response_model=CheckpointCheck, openapi_extra=AUDIT_ACTION)
def verify_checkpoint(
    session: SessionDep, user: CurrentUser, body: dict[str, Any] = Body(...)
) -> CheckpointCheck:
    """Prove today's journal extends the checkpoint sent (a consistency proof) and each chain
    still holds the link it recorded; names the first entry missing or changed. Writes nothing."""
    try:
        checkpoint = cp.parse(body)
        report = service.verify_against_checkpoint(
            session, checkpoint, trusted_key_id=service.signer_key_id()
        )
    except cp.CheckpointError as exc:
        raise ValidationFailed(
            f"checkpoint refused: {exc}", [{"field": exc.field or "checkpoint", "reason": str(exc)}]
        ) from None
    return CheckpointCheck(**report.as_dict())
