"""Reading the books, reversing an entry, closing a period, verifying the chain."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query

from ledger.access.deps import CurrentUser, IdempotencyKey, SessionDep, require_role, require_scope
from ledger.errors import ERROR_RESPONSES, Forbidden
from ledger.journal import idempotency, service
from ledger.journal.models import (
    BalanceRow,
    EntryPublic,
    EntryRef,
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


@router.post("/entries/{entry_id:int}/reversal", response_model=EntryRef, status_code=201)
def reverse(
    entry_id: int, body: ReversalCreate, session: SessionDep, user: CurrentUser, key: IdempotencyKey
) -> EntryRef:
    """Correct an entry by posting its mirror image; an entry can be reversed once."""
    require_role(user, "finance")
    for jur in service.entry_jurisdictions(session, entry_id):
        require_scope(user, jur)
    stored = idempotency.claim(
        session, key=key, operation=f"reverse:{entry_id}", body=body.model_dump(mode="json")
    )
    if stored is not None:
        return EntryRef(**stored)
    posted = service.reverse_entry(
        session,
        entry_id=entry_id,
        created_by=user.username,
        memo=body.memo,
        effective_date=body.effective_date,
    )
    result = posted.as_dict()
    idempotency.record(session, key=key, response=result, status_code=201)
    session.commit()
    return EntryRef(**result)


@router.post("/periods/close", response_model=PeriodClosed)
def close(
    body: PeriodClose, session: SessionDep, user: CurrentUser, key: IdempotencyKey
) -> PeriodClosed:
    """Close a fiscal period: no entry may post into it afterwards."""
    require_role(user, "finance", "admin")
    if user.jurisdiction not in ("000000", "440000"):
        raise Forbidden("only the province's finance bureau closes fiscal periods")
    stored = idempotency.claim(session, key=key, operation="close_period", body=body.model_dump())
    if stored is not None:
        return PeriodClosed(**stored)
    newly = service.close_period(session, period=body.period, closed_by=user.username)
    result = {"period": body.period, "newly_closed": newly}
    idempotency.record(session, key=key, response=result)
    session.commit()
    return PeriodClosed(**result)


@router.get("/verify", response_model=VerifyResult)
def run_verify(session: SessionDep, user: CurrentUser) -> VerifyResult:
    """Recompute the hash chain and re-check every invariant; returns the chain head."""
    require_role(user, "auditor", "admin", "finance")
    return VerifyResult(**verify(session).as_dict())
