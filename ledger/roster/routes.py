"""Roster and register uploads: civil affairs of the county (standards also finance)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Query, UploadFile

from ledger.access.deps import CurrentUser, IdempotencyKey, SessionDep, require_role, require_scope
from ledger.config import get_settings
from ledger.errors import ERROR_RESPONSES, PayloadTooLarge
from ledger.jurisdictions.service import fund_code, get_jurisdiction
from ledger.money import fen_to_str
from ledger.registers import service as registers
from ledger.roster import service
from ledger.roster.models import RegisterImportPublic, RosterEntryPublic, RosterImportPublic

router = APIRouter(tags=["roster"], responses=ERROR_RESPONSES)
KindPath = Path(pattern="^(" + "|".join(registers.KINDS) + ")$")
Period = Annotated[str, Form(pattern=r"^[0-9]{4}(0[1-9]|1[0-2])$")]


async def read_upload(file: UploadFile) -> bytes:
    limit = get_settings().max_upload_bytes
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(f"the upload is larger than {limit} bytes")
    return data


@router.post("/counties/{county}/roster", response_model=RosterImportPublic, status_code=201)
async def upload_roster(
    county: str,
    file: UploadFile,
    effective_period: Period,
    session: SessionDep,
    user: CurrentUser,
    key: IdempotencyKey,
) -> RosterImportPublic:
    """Import the county's roster (花名册) as of ``effective_period``: CSV (UTF-8/GBK) or XLSX.

    A file with any error changes nothing: 422 naming each line, column and reason."""
    require_role(user, "civil_affairs")
    require_scope(user, county)
    get_jurisdiction(session, county)
    data = await read_upload(file)
    result = service.import_roster(
        session,
        county=county,
        data=data,
        filename=file.filename or "",
        effective_period=effective_period,
        imported_by=user.username,
        key=key,
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
    """Who is entitled in ``period`` (ID numbers masked)."""
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
async def upload_register(
    kind: Annotated[str, KindPath],
    file: UploadFile,
    session: SessionDep,
    user: CurrentUser,
    key: IdempotencyKey,
    jurisdiction: Annotated[str | None, Form(pattern=r"^[0-9]{6}$")] = None,
) -> RegisterImportPublic:
    """Import a register: ``standards`` (保障标准), ``deaths`` (死亡登记), ``public_payroll``
    (财政供养人员) or ``staff_relatives`` (近亲属备案), for the uploader's jurisdiction or one below."""
    require_role(user, "civil_affairs", "finance", "admin")
    if kind != "standards":
        require_role(user, "civil_affairs", "admin")
    jur = jurisdiction or user.jurisdiction
    require_scope(user, jur)
    data = await read_upload(file)
    result = registers.import_register(
        session,
        kind=kind,
        jurisdiction=jur,
        data=data,
        filename=file.filename or "",
        imported_by=user.username,
        key=key,
    )
    return RegisterImportPublic(**result)
