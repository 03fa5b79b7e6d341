"""API schemas of payment batches (the tables are payment_batch, payout and finding, 0001)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

PERIOD = r"^[0-9]{4}(0[1-9]|1[0-2])$"


class BatchCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "county": "440103",
                    "fund": "urban_minimum_living",
                    "period": "202612",
                    "bank_code": "ICBCGD",
                    "reissue": [],
                }
            ]
        },
    )
    county: str = Field(pattern=r"^[0-9]{6}$", examples=["440103"])
    fund: str = Field(examples=["urban_minimum_living"])
    period: str = Field(pattern=PERIOD, examples=["202612"])
    bank_code: str = Field(examples=["ICBCGD"])
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


class PayoutPublic(BaseModel):
    """One payout line of a batch; the account masked."""

    id: int
    seq: int
    reference: str
    payee: str
    account: str
    household_size: int
    township: str
    village: str
    amount: str
    state: str
    reason_code: str | None
    raw_text: str | None
    reissue_of: int | None
    reissued_in: int | None


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
    """Named warnings of the latest check run, each acknowledged with the reason given, by a user
    other than the batch's maker. Blocking findings cannot be acknowledged."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=2, max_length=500, examples=["已入户核实，家庭人口变化"])
    finding_ids: list[int] = Field(min_length=1, max_length=1000, examples=[[12, 13]])


class Acknowledged(BaseModel):
    batch_id: int
    acknowledged: int
    finding_ids: list[int]


class AcknowledgedWarning(BaseModel):
    finding_id: int
    rule: str
    message: str
    acknowledged_by: str
    acknowledged_at: datetime
    reason: str


class CheckRun(BaseModel):
    batch_id: int
    findings: dict[str, int]


class Release(BaseModel):
    """A release's optional body: the day it is booked, e.g. a release recorded the day after it
    was done. The database refuses a day in a closed period."""

    model_config = ConfigDict(extra="forbid")
    effective_date: date | None = Field(
        default=None, description="The day of the release entry, in an open period; default today"
    )


class Released(BaseModel):
    batch_id: int
    status: str
    line_count: int
    total: str
    merkle_root: str
    entry_id: int
    entry_hash: str
    acknowledged_warnings: list[AcknowledgedWarning]


class Cancelled(BaseModel):
    batch_id: int
    status: str
    cancelled_lines: int
