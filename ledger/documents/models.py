"""Fund documents (table from alembic 0002) and their API schemas.

Four kinds, each made by one finance user and approved by another of the same bureau:
allocation (拨款), transfer payment (转移支付), reallocation between funds (调剂) and reversal
(冲销) of a posted document. A draft is approved (posted), rejected or withdrawn; a posted
document that was reversed reads ``reversed``.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from ledger.money import AmountStr

DOC_TYPES = ("allocation", "transfer", "reallocation", "reversal")
STATUSES = ("draft", "posted", "rejected", "withdrawn", "reversed")


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

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "number": "粤财社〔2026〕12号",
                    "fiscal_year": 2026,
                    "amount": "1000000.00",
                    "fund": "urban_minimum_living",
                    "memo": "2026年城市低保省级资金",
                }
            ]
        },
    )
    fund: str = Field(examples=["urban_minimum_living"])


class TransferCreate(_DocumentBase):
    """To a direct child: the issuer's special cash to the receiver's, one entry on both books."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "number": "粤财社〔2026〕13号",
                    "fiscal_year": 2026,
                    "amount": "600000.00",
                    "fund": "urban_minimum_living",
                    "to_jurisdiction": "440100",
                }
            ]
        },
    )
    fund: str = Field(examples=["urban_minimum_living"])
    to_jurisdiction: str = Field(pattern=r"^[0-9]{6}$", examples=["440100"])


class ReallocationCreate(_DocumentBase):
    """Between two funds of the issuing jurisdiction: two entries, each balanced in its fund."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "number": "穗财社〔2026〕5号",
                    "fiscal_year": 2026,
                    "amount": "50000.00",
                    "from_fund": "urban_minimum_living",
                    "to_fund": "rural_minimum_living",
                    "memo": "年中调剂",
                }
            ]
        },
    )
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
    reverses_document_id: int | None = Field(
        default=None, description="For a reversal: the document it reverses"
    )
    reversed_by_document_id: int | None = Field(
        default=None, description="For a reversed document: the reversal that undid it"
    )
    reason: str | None = Field(default=None, description="Why a reversal is made")
    decided_by: str | None = Field(default=None, description="Who rejected or withdrew a draft")
    decided_at: datetime | None = None
    decision_reason: str | None = None


class Decision(BaseModel):
    """Why a draft is rejected (by a checker) or withdrawn (by its maker)."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=2, max_length=500, examples=["金额与预算批复不符"])


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
