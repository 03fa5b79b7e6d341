"""Reading the books, drafting the reversal of an entry, closing a period, verifying the chain."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query

from ledger.access.deps import CurrentUser, SessionDep, Write, require_role, require_scope
from ledger.documents.models import DocumentPublic
from ledger.documents.service import create_reversal
from ledger.errors import ERROR_RESPONSES, Forbidden
from ledger.journal import service
from ledger.journal.models import (
    BalanceRow,
    EntryPublic,
    JournalLine,
    PeriodClose,
    PeriodClosed,
    ReversalCreate,
    TrialBalance,
    VerifyResult,
)
from ledger.journal.verify import verify
from ledger.jurisdictions.service import fund_code, get_jurisdiction
from ledger.money import fen_to_str

router = APIRouter(tags=["books"], responses=ERROR_RESPONSES)
CodeQuery = Annotated[str, Query(pattern=r"^[0-9]{6}$")]


@router.get("/jurisdictions/{code}/balances", response_model=list[BalanceRow])
def read_balances(
    code: str,
    session: SessionDep,
    user: CurrentUser,
    fund: str | None = None,
    as_of: date | None = None,
) -> list[BalanceRow]:
    require_scope(user, code)
    get_jurisdiction(session, code)
    f = fund_code(session, fund) if fund else None
    rows = service.balances(session, jurisdiction=code, fund=f, as_of=as_of)
    return [
        BalanceRow(fund=r["fund_code"], account=r["kind"], balance=fen_to_str(r["balance_fen"]))
        for r in rows
    ]


@router.get("/jurisdictions/{code}/trial-balance", response_model=TrialBalance)
def read_trial_balance(
    code: str,
    session: SessionDep,
    user: CurrentUser,
    fund: str | None = None,
    rollup: bool = False,
    as_of: date | None = None,
) -> TrialBalance:
    require_scope(user, code)
    get_jurisdiction(session, code)
    f = fund_code(session, fund) if fund else None
    tb = service.trial_balance(session, jurisdiction=code, fund=f, rollup=rollup, as_of=as_of)
    return TrialBalance(
        jurisdiction=tb["jurisdiction"],
        rollup=tb["rollup"],
        as_of=as_of,
        balanced=tb["balanced"],
        funds=[
            {
                "fund": fd["fund"],
                "debit": fen_to_str(fd["debit_fen"]),
                "credit": fen_to_str(fd["credit_fen"]),
                "balanced": fd["balanced"],
                "accounts": [
                    {
                        "account": a["kind"],
                        "debit": fen_to_str(a["debit_fen"]),
                        "credit": fen_to_str(a["credit_fen"]),
                    }
                    for a in fd["accounts"]
                ],
            }
            for fd in tb["funds"]
        ],
    )


@router.get(
    "/jurisdictions/{code}/accounts/{fund}/{account}/journal", response_model=list[JournalLine]
)
def read_account_journal(
    code: str,
    fund: str,
    account: str,
    session: SessionDep,
    user: CurrentUser,
    after_id: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[JournalLine]:
    require_scope(user, code)
    rows = service.account_journal(
        session,
        jurisdiction=code,
        fund=fund_code(session, fund),
        kind=account,
        limit=limit,
        after_id=after_id,
    )
    return [JournalLine(**{**r, "amount": fen_to_str(r["amount_fen"])}) for r in rows]


@router.get("/entries/{entry_id:int}", response_model=EntryPublic)
def read_entry(entry_id: int, session: SessionDep, user: CurrentUser) -> EntryPublic:
    entry = service.get_entry(session, entry_id)
    if not any(user.sees(p["jurisdiction"]) for p in entry["postings"]):
        raise Forbidden(f"entry {entry_id} touches no jurisdiction in your scope")
    entry["postings"] = [{**p, "amount": fen_to_str(p["amount_fen"])} for p in entry["postings"]]
    return EntryPublic(**entry)


@router.post("/entries/{entry_id:int}/reversal", response_model=DocumentPublic, status_code=201)
def reverse(
    entry_id: int, body: ReversalCreate, session: SessionDep, user: CurrentUser, write: Write
) -> DocumentPublic:
    """Draft the reversal (冲销) of a posted document's entry, with a required reason. Nothing
    posts until a second finance user of the bureau that issued the original approves it
    (``POST /documents/{id}/approval``); the original then reads ``reversed``."""
    require_role(user, "finance")
    for jur in service.entry_jurisdictions(session, entry_id):
        require_scope(user, jur)
    doc = write.run(
        lambda s: create_reversal(
            s,
            principal=user,
            entry_id=entry_id,
            reason=body.reason,
            effective_date=body.effective_date,
            number=body.number,
        ),
        operation=f"reverse:{entry_id}",
        body=body.model_dump(mode="json"),
        status_code=201,
        audit_object=lambda d: ("fund_document", d["id"]),
    )
    return DocumentPublic(**doc)


@router.post("/periods/close", response_model=PeriodClosed)
def close(body: PeriodClose, user: CurrentUser, write: Write) -> PeriodClosed:
    """Close the books through a fiscal period: no entry may post into it or any earlier one."""
    require_role(user, "finance", "admin")
    if user.jurisdiction not in ("000000", "440000"):
        raise Forbidden("only the province's finance bureau closes fiscal periods")
    result = write.run(
        lambda s: service.close_period(s, period=body.period, closed_by=user.username),
        operation="close_period",
        body=body.model_dump(),
    )
    return PeriodClosed(**result)


@router.get("/verify", response_model=VerifyResult)
def run_verify(session: SessionDep, user: CurrentUser) -> VerifyResult:
    """Recompute the hash chain and re-check every invariant; returns the chain head."""
    require_role(user, "auditor", "admin", "finance")
    return VerifyResult(**verify(session).as_dict())
