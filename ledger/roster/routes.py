"""Roster and register uploads: civil affairs of the county (standards also finance)."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Path, Query, Request, Response, UploadFile
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from ledger.access.deps import (
    CurrentUser,
    IdempotencyKey,
    RequestWrite,
    SessionDep,
    Writer,
    require_role,
    require_scope,
)
from ledger.access.service import Principal
from ledger.config import get_settings
from ledger.errors import ERROR_RESPONSES, PayloadTooLarge
from ledger.jobs.routes import QUEUED_RESPONSE, queue_upload, queues
from ledger.jurisdictions.service import fund_code, get_jurisdiction
from ledger.money import fen_to_str
from ledger.registers import service as registers
from ledger.roster import service
from ledger.roster.jobs import ROSTER_IMPORT
from ledger.roster.models import RegisterImportPublic, RosterEntryPublic, RosterImportPublic

router = APIRouter(tags=["roster"], responses=ERROR_RESPONSES)
KindPath = Path(pattern="^(" + "|".join(registers.KINDS) + ")$")
Period = Annotated[str, Form(pattern=r"^[0-9]{4}(0[1-9]|1[0-2])$")]


def read_upload(file: UploadFile) -> bytes:
    limit = get_settings().max_upload_bytes
    data = file.file.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(f"the upload is larger than {limit} bytes")
    return data


def roster_importer(county: str, user: CurrentUser) -> Principal:
    """Authorise before the upload is read or validated: a refusal is a 403, never a 422."""
    require_role(user, "civil_affairs")
    require_scope(user, county)
    return user


def register_importer(
    user: CurrentUser,
    jurisdiction: Annotated[str | None, Query(pattern=r"^[0-9]{6}$")] = None,
) -> tuple[Principal, str]:
    """Role and scope before the upload is read; the jurisdiction defaults to the uploader's."""
    require_role(user, "civil_affairs", "finance", "admin")
    jur = jurisdiction or user.jurisdiction
    require_scope(user, jur)
    return user, jur


@router.post(
    "/counties/{county}/roster",
    response_model=RosterImportPublic,
    status_code=201,
    responses=QUEUED_RESPONSE,
)
def upload_roster(
    request: Request,
    response: Response,
    county: str,
    file: UploadFile,
    effective_period: Period,
    session: SessionDep,
    user: Annotated[Principal, Depends(roster_importer)],
    key: IdempotencyKey,
    mode: Annotated[Literal["update", "replace"], Form()] = "update",
    dry_run: Annotated[bool, Form()] = False,
    confirm_exits: Annotated[int | None, Form(ge=0)] = None,
) -> RosterImportPublic | JSONResponse:
    """Import the county's roster (花名册) as of ``effective_period``: CSV (UTF-8/GBK) or XLSX.

    ``mode=update`` (default) adds and changes people, ending only those the file ends;
    ``mode=replace`` also ends everyone of the file's funds it no longer lists, and when that is
    more than the configured share of households it needs ``confirm_exits`` = that count.
    ``dry_run=true`` answers joined / changed / exited with their lines and writes nothing.
    A file with any error changes nothing: 422 naming each line, column and reason.
    A file larger than LEDGER_JOB_THRESHOLD_BYTES (not a dry run) is imported by a job:
    ``202`` with ``Location: /jobs/{id}``; the job's result is this answer."""
    data = read_upload(file)
    if dry_run:  # a question, not a write: answered and rolled back
        response.status_code = 200
    return import_roster_file(
        session,
        RequestWrite(request, response, user, key),
        user=user,
        county=county,
        data=data,
        filename=file.filename or "",
        effective_period=effective_period,
        mode=mode,
        dry_run=dry_run,
        confirm_exits=confirm_exits,
    )


def import_roster_file(
    session: Session,
    write: Writer,
    *,
    user: Principal,
    county: str,
    data: bytes,
    filename: str,
    effective_period: str,
    mode: str = "update",
    dry_run: bool = False,
    confirm_exits: int | None = None,
) -> RosterImportPublic | JSONResponse:
    """A roster file imported by an authorised user (the route's and ``ledger roster import``'s)."""
    get_jurisdiction(session, county)

    def work(s: Session) -> dict[str, Any]:
        return service.import_roster(
            s,
            county=county,
            data=data,
            filename=filename,
            effective_period=effective_period,
            imported_by=user.username,
            mode=mode,
            dry_run=dry_run,
            confirm_exits=confirm_exits,
        )

    if dry_run:  # a question, not a write: answered and rolled back
        with Session(session.get_bind()) as s:
            return RosterImportPublic(**work(s))
    body = {
        "county": county,
        "period": effective_period,
        "sha256": hashlib.sha256(data).hexdigest(),
        "mode": mode,
        "confirm_exits": confirm_exits,
    }
    if isinstance(write, RequestWrite) and queues(len(data)):  # a large upload: a job answers
        params = {
            "county": county,
            "filename": filename,
            "effective_period": effective_period,
            "imported_by": user.username,
            "mode": mode,
            "confirm_exits": confirm_exits,
        }
        queued = queue_upload(
            write,
            kind=ROSTER_IMPORT,
            data=data,
            filename=filename,
            params=params,
            operation="roster_import",
            body=body,
        )
        return queued if isinstance(queued, JSONResponse) else RosterImportPublic(**queued)
    result = write.run(
        work,
        operation="roster_import",
        body=body,
        status_code=201,
        audit_object=lambda r: ("register_import", r["import_id"]),
    )
    return RosterImportPublic(**result)


@router.get("/counties/{county}/roster", response_model=list[RosterEntryPublic])
def read_roster(
    county: str,
    session: SessionDep,
    user: CurrentUser,
    period: Annotated[str, Query(pattern=r"^[0-9]{4}(0[1-9]|1[0-2])$")],
    fund: str | None = None,
    after_id: int = 0,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
) -> list[RosterEntryPublic]:
    """Who is entitled in ``period`` (ID and account numbers masked)."""
    require_role(user, "civil_affairs", "auditor", "admin")
    require_scope(user, county)
    rows = service.roster_at(
        session,
        county=county,
        period=period,
        fund=fund_code(session, fund) if fund else None,
        limit=limit,
        after_id=after_id,
    )
    return [RosterEntryPublic(**r, amount=fen_to_str(r["amount_fen"])) for r in rows]


@router.post("/registers/{kind}", response_model=RegisterImportPublic, status_code=201)
def upload_register(
    request: Request,
    response: Response,
    kind: Annotated[str, KindPath],
    file: UploadFile,
    importer: Annotated[tuple[Principal, str], Depends(register_importer)],
    key: IdempotencyKey,
) -> RegisterImportPublic:
    """Import a register: ``standards`` (保障标准), ``deaths`` (死亡登记), ``public_payroll``
    (财政供养人员), ``staff_relatives`` (近亲属备案), ``reviews`` (动态复核: information checks
    and home visits) or ``asset_limits`` (资产限额), for the uploader's jurisdiction or one below.
    Holdings have their own upload, ``POST /registers/holdings``."""
    user, jur = importer
    data = read_upload(file)
    return import_register_file(
        RequestWrite(request, response, user, key),
        user=user,
        kind=kind,
        jurisdiction=jur,
        data=data,
        filename=file.filename or "",
    )


def import_register_file(
    write: Writer, *, user: Principal, kind: str, jurisdiction: str, data: bytes, filename: str
) -> RegisterImportPublic:
    """A register file imported by an authorised user (the route's and ``ledger registers``')."""
    if kind not in ("standards", "asset_limits"):
        require_role(user, "civil_affairs", "admin")
    result = write.run(
        lambda s: registers.import_register(
            s,
            kind=kind,
            jurisdiction=jurisdiction,
            data=data,
            filename=filename,
            imported_by=user.username,
        ),
        operation="register_import",
        body={
            "kind": kind,
            "jurisdiction": jurisdiction,
            "sha256": hashlib.sha256(data).hexdigest(),
        },
        status_code=201,
        audit_object=lambda r: ("register_import", r["import_id"]),
    )
    return RegisterImportPublic(**result)
