"""Journal tables (schema from alembic 0001) and the API's read and write schemas."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from ledger.domain import PERIOD_PATTERN


class Account(SQLModel, table=True):
    __tablename__ = "account"
    id: int | None = SQLField(default=None, primary_key=True)
    jurisdiction_code: str
    fund_code: str
    kind: str
    balance_fen: int = 0


class JournalEntry(SQLModel, table=True):
    __tablename__ = "journal_entry"
    id: int = SQLField(primary_key=True)
    kind: str
    memo: str = ""
    effective_date: date
    period: str
    document_type: str | None = None
    document_id: str | None = None
    reverses_id: int | None = None
    payload_digest: str | None = None
    created_by: str
    created_at: datetime
    prev_hash: str
    hash: str


class Posting(SQLModel, table=True):
    __tablename__ = "posting"
    id: int | None = SQLField(default=None, primary_key=True)
    entry_id: int = SQLField(foreign_key="journal_entry.id")
    account_id: int = SQLField(foreign_key="account.id")
    side: str
    amount_fen: int


class PostingPublic(BaseModel):
    jurisdiction: str
    fund: str
    account: str
    side: str
    amount: str


class EntryPublic(BaseModel):
    id: int
    kind: str
    memo: str
    effective_date: date
    period: str
    document_type: str | None
    document_id: str | None
    reverses_id: int | None
    reversed_by: int | None
    payload_digest: str | None
    created_by: str
    created_at: datetime
    prev_hash: str
    hash: str
    postings: list[PostingPublic]


class EntryRef(BaseModel):
    entry_id: int
    hash: str
    prev_hash: str
    kind: str
    effective_date: date


class ReversalCreate(BaseModel):
    """A reversal document's draft: the reason is required; it posts when a second finance user
    of the bureau that issued the original approves it."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"reason": "重复拨付，予以冲销", "number": "粤财社〔2026〕冲12号"}]
        },
    )
    reason: str = Field(min_length=2, max_length=500, examples=["重复拨付，予以冲销"])
    effective_date: date | None = Field(
        default=None, description="In the open period; defaults to today"
    )
    number: str | None = Field(
        default=None, min_length=1, max_length=100, examples=["粤财社〔2026〕冲12号"]
    )


class PeriodClose(BaseModel):
    model_config = ConfigDict(extra="forbid")
    period: str = Field(pattern=PERIOD_PATTERN, examples=["202611"])


class PeriodClosed(BaseModel):
    period: str
    newly_closed: bool
    closed_through: str = Field(description="Every period up to this one is closed")


class BalanceRow(BaseModel):
    fund: str
    account: str
    balance: str


class TrialBalanceAccount(BaseModel):
    account: str
    debit: str
    credit: str


class TrialBalanceFund(BaseModel):
    fund: str
    accounts: list[TrialBalanceAccount]
    debit: str
    credit: str
    balanced: bool


class TrialBalance(BaseModel):
    jurisdiction: str
    rollup: bool
    as_of: date | None
    funds: list[TrialBalanceFund]
    balanced: bool


class JournalLine(BaseModel):
    entry_id: int
    effective_date: date
    entry_kind: str
    memo: str
    side: str
    amount: str


class VerifyResult(BaseModel):
    ok: bool
    entry_count: int
    chain_head: str
    first_broken_entry: int | None
    problems: list[str]
    checked_at: str


def money_fields(d: dict[str, Any], *names: str) -> dict[str, Any]:
    from ledger.money import fen_to_str

    return {**d, **{n.removesuffix("_fen"): fen_to_str(d[n]) for n in names}}
