"""The person file (一人一档) as the API answers it."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field


class PersonLookup(BaseModel):
    """An ID number, hashed on arrival; it is neither stored nor logged."""

    id_number: str = Field(min_length=15, max_length=18, examples=["440103198001011234"])


class RosterVersionPublic(BaseModel):
    id: int
    county: str
    fund: str
    valid_from: str
    active: bool
    household_id: str
    household_changed: bool = Field(description="the household differs from the version before")
    payee_name: str
    township: str
    village: str
    household_size: int
    amount_fen: int
    bank_code: str
    account: str = Field(description="in full for civil affairs and admins, masked otherwise")
    start_period: str
    end_period: str | None


class PayoutAttemptPublic(BaseModel):
    id: int
    reference: str
    batch_id: int
    county: str
    fund: str
    period: str
    amount_fen: int
    state: str
    reason_code: str | None
    bank_reason: str | None
    settling_entry_id: int | None
    reissue_of: int | None
    account: str


class FindingRef(BaseModel):
    id: int
    rule: str
    severity: str
    jurisdiction: str
    period: str | None
    batch_id: int | None
    message: str


class RegisterMatch(BaseModel):
    source: str  # death | public_payroll | staff_relative | holding
    id: int
    detail: str
    on: date | None = None
    value_fen: int | None = None


class ReviewRef(BaseModel):
    id: int
    county: str
    household_id: str
    kind: str
    reviewed_on: date
    outcome: str
    reviewer: str
    assets_fen: int | None


class ComplaintRef(BaseModel):
    id: int
    reference: str
    channel: str
    received_on: date
    jurisdiction: str
    concerns: str
    content: str
    deadline: date
    outcome: str | None
    closed_on: date | None


class PersonFile(BaseModel):
    person_key: str
    id_masked: str
    names: list[str]
    counties: list[str]
    full_accounts: bool = Field(description="whether account numbers are shown in full")
    roster: list[RosterVersionPublic]
    payouts: list[PayoutAttemptPublic]
    findings: list[FindingRef]
    matches: list[RegisterMatch]
    reviews: list[ReviewRef]
    complaints: list[ComplaintRef]
