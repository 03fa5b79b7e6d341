"""API schemas of reconciliation. The tables (``bank_file``, ``recon_exception``) are written
by set-based SQL in the service and defined by the 0004 migration."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ledger.money import fen_to_str


class BankFilePublic(BaseModel):
    """One imported bank file and what it did."""

    file_id: int
    sha256: str
    kind: str
    status: str = Field(description="applied | agreed | explained | flagged")
    bank_code: str | None
    batch_id: int | None = None
    line_count: int
    total: str
    replayed: bool = Field(False, description="the same bytes were imported before")
    counts: dict[str, Any] = {}
    failed_by_reason: dict[str, int] = {}
    entries: list[int] = []
    statement: dict[str, Any] | None = None
    uploaded_by: str | None = None
    uploaded_at: datetime | None = None

    @classmethod
    def of(cls, result: dict[str, Any]) -> BankFilePublic:
        statement = None
        if result["kind"] == "camt.053":
            statement = {
                k: result.get(k)
                for k in (
                    "county",
                    "fund",
                    "as_of",
                    "closing_fen",
                    "special_cash_fen",
                    "difference_fen",
                    "explained_fen",
                    "residual_fen",
                    "suspense_fen",
                    "items",
                )
            }
        return cls(
            **{k: v for k, v in result.items() if k in cls.model_fields and k != "statement"},
            total=fen_to_str(int(result.get("total_fen", 0))),
            statement=statement,
        )


class ExceptionPublic(BaseModel):
    """A bank line that settled nothing, waiting for a person."""

    id: int
    bank_file_id: int
    line_no: int | None
    problem: str
    batch_id: int | None
    county_code: str | None
    fund_code: str | None
    payout_id: int | None
    suggested_payout_id: int | None
    payout_state: str | None
    reference: str | None
    seq: int | None
    account: str | None
    name: str | None
    amount: str | None
    outcome: str
    reason_code: str | None
    raw_code: str | None
    raw_text: str | None
    suspense: str
    status: str
    proposed_action: str | None = None
    proposed_payout_id: int | None = None
    proposed_reason: str | None = None
    proposed_by: str | None = None
    proposed_at: datetime | None = None
    resolved_by: str | None
    resolution_reason: str | None
    resolution_entry_id: int | None = None
    matched_payout_id: int | None = None

    @classmethod
    def of(cls, row: dict[str, Any]) -> ExceptionPublic:
        data = {k: v for k, v in row.items() if k in cls.model_fields}
        data["amount"] = fen_to_str(row["amount_fen"]) if row["amount_fen"] is not None else None
        data["suspense"] = fen_to_str(row["suspense_fen"])
        return cls(**data)


class ResolutionCreate(BaseModel):
    """A proposed resolution; it takes effect when a second user approves it."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"action": "match", "reason": "户名核对一致，人工匹配", "payout_id": 1234}]
        },
    )
    action: Literal["match", "refer", "write_off"] = Field(examples=["match"])
    reason: str = Field(min_length=1, max_length=500, examples=["户名核对一致，人工匹配"])
    payout_id: int | None = Field(None, description="for action=match: the payout the line is")


class ProposalDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=2, max_length=500, examples=["应退回银行核实"])
