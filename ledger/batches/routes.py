"""Payment batches: civil affairs builds, checks, acknowledges and (a second person) releases;
the addressed bank downloads the instruction files."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import IO, Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from ledger.access.deps import CurrentUser, SessionDep, Write, require_role, require_scope
from ledger.access.service import Principal
from ledger.batches import service
from ledger.batches.instruction_files import write_instruction_csv, write_pain001
from ledger.batches.models import (
    Acknowledged,
    Acknowledgement,
    BatchCreate,
    BatchPublic,
    Cancelled,
    CheckRun,
    FindingPublic,
    PayoutPublic,
    Release,
    Released,
)
from ledger.errors import ERROR_RESPONSES, Conflict, Forbidden, ValidationFailed
from ledger.money import fen_to_str
from ledger.paging import CursorQuery, LimitQuery, Page, StrictQuery, decode_cursor, page_of
from ledger.payouts import PayoutState

router = APIRouter(tags=["batches"], responses=ERROR_RESPONSES)
_CHUNK = 1 << 16


def _public(batch: dict[str, Any]) -> BatchPublic:
    return BatchPublic(**batch, total=fen_to_str(batch["total_fen"]))


def _civil_affairs(user: Principal, batch: dict[str, Any]) -> None:
    require_role(user, "civil_affairs")
    require_scope(user, batch["county_code"])


def may_read_batch(user: Principal, batch: dict[str, Any]) -> None:
    """Civil affairs and auditors by scope; a bank sees only batches addressed to it."""
    if user.role == "bank":
        if user.bank_code != batch["bank_code"]:
            raise Forbidden(
                f"batch {batch['id']} is addressed to another bank",
                [{"field": "bank_code", "reason": "not your bank"}],
            )
        return
    require_role(user, "civil_affairs", "auditor", "admin")
    require_scope(user, batch["county_code"])


@router.post("/batches", response_model=BatchPublic, status_code=201)
def build(body: BatchCreate, user: CurrentUser, write: Write) -> BatchPublic:
    """Build the month's batch for a county, fund, period and bank from the roster (plus chosen
    reissues), and run the pre-release checks."""
    require_role(user, "civil_affairs")
    require_scope(user, body.county)
    result = write.run(
        lambda s: service.build_batch(
            s,
            county=body.county,
            fund=body.fund,
            period=body.period,
            bank_code=body.bank_code,
            reissue=body.reissue,
            created_by=user.username,
        ),
        operation="batch_build",
        body=body.model_dump(),
        status_code=201,
        audit_object=lambda b: ("payment_batch", b["id"]),
    )
    return _public(result)


BatchStatus = Literal["draft", "released", "cancelled"]


@router.get("/batches", response_model=Page[BatchPublic], dependencies=[StrictQuery])
def list_batches(
    session: SessionDep,
    user: CurrentUser,
    bank: Annotated[str | None, Query(max_length=40, examples=["ICBCGD"])] = None,
    county: Annotated[str | None, Query(pattern=r"^[0-9]{6}$", examples=["440103"])] = None,
    fund: Annotated[str | None, Query(max_length=40, examples=["urban_minimum_living"])] = None,
    period: Annotated[str | None, Query(pattern=r"^[0-9]{4}(0[1-9]|1[0-2])$")] = None,
    status: BatchStatus | None = None,
    cursor: CursorQuery = None,
    limit: LimitQuery = 100,
) -> Page[BatchPublic]:
    """The batches the caller may see: a bank those addressed to it, civil affairs and auditors
    those of their subtree."""
    require_role(user, "bank", "civil_affairs", "auditor", "admin")
    rows = service.list_batches(
        session,
        principal=user,
        bank=bank,
        county=county,
        fund=fund,
        period=period,
        status=status,
        after_id=decode_cursor(cursor),
        limit=limit,
    )
    return page_of(rows, limit, _public)


@router.get(
    "/batches/{batch_id:int}/payouts", response_model=Page[PayoutPublic], dependencies=[StrictQuery]
)
def list_payouts(
    batch_id: int,
    session: SessionDep,
    user: CurrentUser,
    state: PayoutState | None = None,
    cursor: CursorQuery = None,
    limit: LimitQuery = 100,
) -> Page[PayoutPublic]:
    """A batch's payout lines (e.g. ``state=failed`` to choose reissues), for whoever may read
    the batch. Accounts are masked: in full they go only into the bank's instruction file."""
    may_read_batch(user, service.get_batch(session, batch_id))
    rows = service.list_payouts(
        session, batch_id, state=state, after_id=decode_cursor(cursor), limit=limit
    )
    return page_of(rows, limit, payout_public)


def payout_public(row: dict[str, Any]) -> PayoutPublic:
    return PayoutPublic(
        **{k: v for k, v in row.items() if k in PayoutPublic.model_fields},
        payee=row["payee_name"],
        account=row["account_masked"],
        amount=fen_to_str(row["amount_fen"]),
    )


@router.get("/batches/{batch_id:int}", response_model=BatchPublic)
def read_batch(batch_id: int, session: SessionDep, user: CurrentUser) -> BatchPublic:
    batch = service.get_batch(session, batch_id)
    may_read_batch(user, batch)
    return _public(batch)


@router.get("/batches/{batch_id:int}/findings", response_model=list[FindingPublic])
def read_findings(
    batch_id: int, session: SessionDep, user: CurrentUser, all_runs: bool = False
) -> list[FindingPublic]:
    """What the checks found (latest run unless ``all_runs``)."""
    batch = service.get_batch(session, batch_id)
    if user.role == "bank":
        raise Forbidden("findings are for civil affairs and auditors")
    may_read_batch(user, batch)
    return [
        FindingPublic(**f) for f in service.findings(session, batch_id, latest_only=not all_runs)
    ]


@router.post("/batches/{batch_id:int}/checks", response_model=CheckRun, status_code=201)
def recheck(batch_id: int, session: SessionDep, user: CurrentUser, write: Write) -> CheckRun:
    """Run the checks again, e.g. after importing a register or funding the county; the run is
    recorded even when it finds nothing, and the latest run decides release."""
    _civil_affairs(user, service.get_batch(session, batch_id))
    result = write.run(
        lambda s: service.recheck_batch(s, batch_id=batch_id, ran_by=user.username),
        operation=f"batch_checks:{batch_id}",
        body={"batch_id": batch_id},
        status_code=201,
    )
    return CheckRun(**result)


@router.post("/batches/{batch_id:int}/acknowledgements", response_model=Acknowledged)
def acknowledge(
    batch_id: int, body: Acknowledgement, session: SessionDep, user: CurrentUser, write: Write
) -> Acknowledged:
    """Acknowledge named warnings with a reason: a civil-affairs user other than the batch's
    maker. Blocking findings are never acknowledged."""
    _civil_affairs(user, service.get_batch(session, batch_id))
    result = write.run(
        lambda s: service.acknowledge(
            s,
            batch_id=batch_id,
            finding_ids=body.finding_ids,
            reason=body.reason,
            by=user.username,
        ),
        operation=f"batch_ack:{batch_id}",
        body=body.model_dump(),
    )
    return Acknowledged(**result)


@router.post("/batches/{batch_id:int}/release", response_model=Released)
def release(
    batch_id: int,
    session: SessionDep,
    user: CurrentUser,
    write: Write,
    body: Release | None = None,
) -> Released:
    """Release by a second civil-affairs user: posts Dr in transit / Cr special cash and sends
    every line. Refused while a blocking finding or an unacknowledged warning remains. The
    entry is dated today unless the body names the day (never one in a closed period)."""
    _civil_affairs(user, service.get_batch(session, batch_id))
    day = body.effective_date if body is not None else None
    result = write.run(
        lambda s: service.release_batch(
            s, batch_id=batch_id, released_by=user.username, effective_date=day
        ),
        operation=f"batch_release:{batch_id}",
        body={"batch_id": batch_id, **({"effective_date": day} if day else {})},
    )
    return Released(**result, total=fen_to_str(result["total_fen"]))


@router.post("/batches/{batch_id:int}/cancel", response_model=Cancelled)
def cancel(batch_id: int, session: SessionDep, user: CurrentUser, write: Write) -> Cancelled:
    _civil_affairs(user, service.get_batch(session, batch_id))
    result = write.run(
        lambda s: service.cancel_batch(s, batch_id=batch_id, by=user.username),
        operation=f"batch_cancel:{batch_id}",
        body={"batch_id": batch_id},
    )
    return Cancelled(**result)


def attachment(name: str) -> str:
    """A download's Content-Disposition: an ASCII fallback and the UTF-8 name (RFC 6266)."""
    fallback = name.encode("ascii", "replace").decode().replace("?", "_")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name)}"


def _stream(spool: IO[bytes]) -> Iterator[bytes]:
    try:
        spool.seek(0)
        while chunk := spool.read(_CHUNK):
            yield chunk
    finally:
        spool.close()


def released_batch(session: Any, user: Principal, batch_id: int) -> dict[str, Any]:
    """A released batch its paying bank or civil affairs may download the instructions of."""
    batch = service.get_batch(session, batch_id)
    may_read_batch(user, batch)
    if user.role not in ("bank", "civil_affairs"):
        raise Forbidden("instruction files are for the paying bank and civil affairs")
    if batch["status"] != "released":
        raise Conflict(f"batch {batch_id} is {batch['status']}; only a released batch is paid")
    return batch


@router.get(
    "/batches/{batch_id:int}/instructions.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "The CSV instruction file"}},
)
def instruction_csv(
    batch_id: int,
    session: SessionDep,
    user: CurrentUser,
    encoding: Annotated[Literal["utf-8", "gbk"], Query()] = "utf-8",
) -> StreamingResponse:
    """The bank's CSV instruction file (序号,收款账号,收款户名,金额,备注 and a 合计 trailer)."""
    batch = released_batch(session, user, batch_id)
    # Spooled: small files stay in memory, a million lines spill to disk, never all in RAM.
    spool = tempfile.SpooledTemporaryFile(max_size=16 << 20)  # noqa: SIM115 (closed by _stream)
    try:
        write_instruction_csv(
            service.instruction_header(session, batch),
            service.instruction_lines(session, batch_id),
            spool,  # type: ignore[arg-type]
            encoding=encoding,
        )
    except ValueError as exc:
        spool.close()
        raise ValidationFailed(str(exc), [{"field": "encoding", "reason": str(exc)}]) from exc
    return StreamingResponse(
        _stream(spool),  # type: ignore[arg-type]
        media_type=f"text/csv; charset={encoding}",
        headers={"Content-Disposition": attachment(service.instruction_file_name(session, batch))},
    )


@router.get(
    "/batches/{batch_id:int}/instructions.xml",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/xml": {}}, "description": "The pain.001 file"}},
)
def instruction_xml(batch_id: int, session: SessionDep, user: CurrentUser) -> StreamingResponse:
    """ISO 20022 pain.001.001.09 credit transfer initiation for the batch."""
    batch = released_batch(session, user, batch_id)
    spool = tempfile.SpooledTemporaryFile(max_size=16 << 20)  # noqa: SIM115 (closed by _stream)
    write_pain001(
        service.instruction_header(session, batch),
        service.instruction_lines(session, batch_id),
        spool,  # type: ignore[arg-type]
    )
    return StreamingResponse(
        _stream(spool),  # type: ignore[arg-type]
        media_type="application/xml",
        headers={
            "Content-Disposition": attachment(service.instruction_file_name(session, batch, "xml"))
        },
    )
