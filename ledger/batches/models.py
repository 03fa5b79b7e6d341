"""API schemas of payment batches (the tables are payment_batch, payout and finding, 0001)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

PERIOD = r"^[0-9]{4}(0[1-9]|1[0-2])$"


class BatchCreate(BaseModel):
    county: str = Field(pattern=r"^[0-9]{6}$")
    fund: str
    period: str = Field(pattern=PERIOD)
    bank_code: str
    reissue: list[int] = Field(default_factory=list, description="failed payouts to pay again")


class BatchPublic(BaseModel):
    id: int
    county_code: str
    fund_code: str
    period: str
    bank_code: str
    status: str
    line_count: int
    total: str
    merkle_root: str | None
    release_entry_id: int | None
    created_by: str
    created_at: datetime
    released_by: str | None
    released_at: datetime | None
    findings: dict[str, int] = {}


class FindingPublic(BaseModel):
    id: int
    rule: str
    severity: str
    message: str
    evidence: dict[str, Any]
    run_id: str | None
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    ack_reason: str | None


class Acknowledgement(BaseModel):
    reason: str = Field(min_length=2, max_length=500)
    finding_ids: list[int] = Field(default_factory=list)
    rule: str | None = None


class Acknowledged(BaseModel):
    batch_id: int
    acknowledged: int


class Released(BaseModel):
    batch_id: int
    status: str
    line_count: int
    total: str
    merkle_root: str
    entry_id: int
    entry_hash: str


class Cancelled(BaseModel):
    batch_id: int
    status: str
    cancelled_lines: int
