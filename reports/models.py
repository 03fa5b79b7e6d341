"""API schemas of the reports: findings, findings runs and report records."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field

from ledger.domain import PERIOD_PATTERN


class FindingPublic(BaseModel):
    rule: str
    severity: str
    jurisdiction: str
    fund: str | None = None
    period: str | None = None
    batch_id: int | None = None
    message: str
    evidence: dict[str, Any] = Field(default_factory=dict)


class FindingRunCreate(BaseModel):
    period: str = Field(pattern=PERIOD_PATTERN, examples=["202406"])


class FindingRunPublic(BaseModel):
    run_id: str
    jurisdiction: str
    period: str
    as_of: date
    finding_count: int
    chain_head: str


class FindingList(BaseModel):
    jurisdiction: str
    period: str
    run_id: str | None = None
    findings: list[FindingPublic]


class ReportRecordPublic(BaseModel):
    id: int
    kind: str
    jurisdiction: str
    fund: str | None
    period: str
    parameters: dict[str, Any]
    sha256: str
    size_bytes: int
    chain_head: str
    generated_by: str
    generated_at: datetime
