"""Fund documents (table from alembic 0002) and their API schemas.

Three kinds, each made by one finance user and approved by another of the same bureau:
allocation (拨款), transfer payment (转移支付) and reallocation between funds (调剂).
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from ledger.money import AmountStr

DOC_TYPES = ("allocation", "transfer", "reallocation")


class FundDocument(SQLModel, table=True):
    __tablename__ = "fund_document"
    id: int | None = SQLField(default=None, primary_key=True)
    doc_type: str
    number: str
    bureau_id: int
    jurisdiction_code: str
    to_jurisdiction: str | None = None
    fund_code: str
    to_fund_code: str | None = None
    fiscal_year: int
    effective_date: date
    amount_fen: int
    memo: str = ""
    status: str = "draft"
    created_by: int
    created_at: datetime | None = None
    approved_by: int | None = None
    approved_at: datetime | None = None
    entry_id: int | None = None
    second_entry_id: int | None = None


Number = Field(min_length=1, max_length=100, examples=["粤财社〔2026〕12号"])
FiscalYear = Field(ge=2000, le=2100, examples=[2026])


class _DocumentBase(BaseModel):
    model_config = ConfigDict(extra="forbid")
    number: str = Number
    fiscal_year: int = FiscalYear
    amount: AmountStr
    memo: str = Field(default="", max_length=500)
    effective_date: date | None = Field(
        default=None, description="Posting date; defaults to today, must fall in the fiscal year"
    )


class AllocationCreate(_DocumentBase):
    """Own-budget money into a fund's special account: Dr special cash / Cr appropriation revenue."""

    fund: str = Field(examples=["urban_minimum_living"])


class TransferCreate(_DocumentBase):
    """To a direct child: the issuer's special cash to the receiver's, one entry on both books."""

    fund: str = Field(examples=["urban_minimum_living"])
    to_jurisdiction: str = Field(pattern=r"^[0-9]{6}$", examples=["440100"])


class ReallocationCreate(_DocumentBase):
    """Between two funds of the issuing jurisdiction: two entries, each balanced in its fund."""

    from_fund: str = Field(examples=["urban_minimum_living"])
    to_fund: str = Field(examples=["rural_minimum_living"])


class DocumentPublic(BaseModel):
    id: int
    doc_type: str
    number: str
    bureau_id: int
    jurisdiction: str
    to_jurisdiction: str | None
    fund: str
    to_fund: str | None
    fiscal_year: int
    effective_date: date
    amount: str
    memo: str
    status: str
    created_by: str
    created_at: datetime
    approved_by: str | None
    approved_at: datetime | None
    entry_ids: list[int]


class Approval(BaseModel):
    document: DocumentPublic
    newly_approved: bool = Field(description="False when the document was already approved")


class FlowFigures(BaseModel):
    received_from_above: str
    own_appropriation: str
    reallocated_in: str
    reallocated_out: str
    available: str
    sent_below: str
    paid_to_people: str
    balance: str
    execution_rate: str | None = Field(
        description=(
            "(sent below + paid) ÷ available as a percentage, two places, ROUND_HALF_UP "
            "(87.60); null when nothing is available (ledger.figures)"
        )
    )


class FlowNode(BaseModel):
    jurisdiction: str
    name: str
    own: FlowFigures
    rolled_up: FlowFigures
    children: list[FlowNode] = []


class FundFlow(BaseModel):
    fund: str
    fiscal_year: int
    root: FlowNode
