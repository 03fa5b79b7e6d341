"""Checkpoints for anyone signed in, today's books checked against a checkpoint one holds, and
payout proofs: for those who see the batch, and for the public a disclosed line's own."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path
from pydantic import BaseModel
from sqlalchemy.orm import Session

from ledger.access.deps import AUDIT_ACTION, CurrentUser, SessionDep
from ledger.batches.routes import may_read_batch
from ledger.errors import ERROR_RESPONSES, Conflict, NotFound, ValidationFailed
from ledger.evidence import checkpoint as cp
from ledger.evidence import payout_proof, service
from ledger.payouts import DISCLOSED_STATES, REFERENCE_PATTERN

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


def _covering(session: Session, entry_id: int) -> cp.Checkpoint:
    latest = service.latest_checkpoint(session)
    if latest is None or latest.tree_size < entry_id:
        raise Conflict(
            "no checkpoint covers this payout's release yet: the bureau makes one daily",
            [{"field": "checkpoint", "reason": "none covers the release entry"}],
        )
    return latest


ReferencePath = Annotated[str, Path(pattern=REFERENCE_PATTERN, max_length=12)]


@router.get("/payouts/{reference}/proof")
def read_payout_proof(reference: ReferencePath, session: SessionDep, user: CurrentUser) -> Any:
    """A payout line's inclusion proof (line → batch root → release entry → latest checkpoint),
    for those who may see its batch: civil affairs and auditors in scope, the addressed bank.
    Check it offline with ``ledger proof verify``."""
    county, bank, _ = payout_proof.payout_scope(session, reference)
    may_read_batch(user, {"id": reference, "county_code": county, "bank_code": bank})
    entry_id = payout_proof.release_entry_of(session, reference)
    return payout_proof.build_payout_proof(session, reference, _covering(session, entry_id))


@router.get("/public/payouts/{reference}/proof")
def read_public_payout_proof(reference: ReferencePath, session: SessionDep) -> Any:
    """No sign-in: the proof of a line a disclosure prints, for whoever holds its reference.
    It shows the line as printed (masked name, amount, period, fund, county, reference) and
    digests only; a line no disclosure prints is not found."""
    try:
        _, _, state = payout_proof.payout_scope(session, reference)
    except NotFound:
        state = ""
    if state not in DISCLOSED_STATES:
        raise NotFound(f"no disclosed payout {reference}")
    entry_id = payout_proof.release_entry_of(session, reference)
    return payout_proof.build_payout_proof(session, reference, _covering(session, entry_id))
