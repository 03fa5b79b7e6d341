"""API schemas of complaints and reports (投诉举报); the tables are in migration 0018."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Channel = Literal["hotline", "letter", "visit", "web"]
Concerns = Literal["person", "household", "jurisdiction", "batch"]
MAX_CONTENT = 2000


class ComplaintCreate(BaseModel):
    """A complaint as a bureau records it. ``id_number`` (for one about a person) is hashed on
    arrival and kept only as the person key."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "channel": "hotline",
                    "received_on": "2026-11-02",
                    "jurisdiction": "440103",
                    "concerns": "household",
                    "household_id": "H0001",
                    "content": "反映某户有车仍领低保",
                    "handler": "李办理",
                }
            ]
        }
    )

    channel: Channel = Field(examples=["hotline"])
    received_on: date = Field(examples=["2026-11-02"])
    jurisdiction: str = Field(pattern=r"^[0-9]{6}$", examples=["440103"])
    concerns: Concerns = Field(examples=["jurisdiction"])
    id_number: str | None = Field(default=None, min_length=15, max_length=18)
    household_id: str | None = Field(default=None, max_length=100)
    batch_id: int | None = Field(default=None, ge=1)
    content: str = Field(min_length=1, max_length=MAX_CONTENT, examples=["反映某户有车仍领低保"])
    handler: str | None = Field(default=None, max_length=100, examples=["李办理"])
    finding_ids: list[int] = Field(default_factory=list, max_length=100, examples=[[]])


class ComplaintClose(BaseModel):
    outcome: str = Field(
        min_length=2, max_length=MAX_CONTENT, examples=["经入户核实，反映属实，已停发"]
    )
    closed_on: date = Field(examples=["2026-11-20"])
    finding_ids: list[int] = Field(
        default_factory=list,
        max_length=100,
        description="findings the handling closed",
        examples=[[]],
    )


class PublicComplaint(BaseModel):
    """What anyone may send without an account: bounded, and nothing is asked about them."""

    jurisdiction: str = Field(pattern=r"^[0-9]{6}$", examples=["440103"])
    content: str = Field(min_length=5, max_length=MAX_CONTENT, examples=["某村有人冒领低保"])


class ComplaintPublic(BaseModel):
    id: int
    reference: str
    channel: str
    received_on: date
    jurisdiction: str
    concerns: str
    person_key: str | None
    household_id: str | None
    batch_id: int | None
    content: str
    handler: str | None
    deadline: date
    outcome: str | None
    closed_on: date | None
    closed_by: str | None
    opened_findings: list[int]
    closed_findings: list[int]


class ComplaintStatus(BaseModel):
    """What a submitter sees with the reference: where it stands, nothing personal."""

    reference: str
    received_on: date
    deadline: date
    status: Literal["open", "closed"]
    closed_on: date | None
