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
    status: str = Field("open", description="open, acknowledged or resolved")
    finding_id: int | None = None
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    ack_reason: str | None = None


class RuleCount(BaseModel):
    rule: str
    label: str = Field(description="the rule in Chinese")
    severity: str
    count: int
    open: int
    acknowledged: int
    resolved: int


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
    as_of: date | None = Field(None, description="the report's date the rules were judged on")
    count: int = Field(0, description="distinct findings")
    by_rule: list[RuleCount] = Field(default_factory=list)
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


class TraceDocumentPublic(BaseModel):
    """An allocation (拨款) or a transfer down the tree (转移支付) of the traced fund."""

    id: int
    doc_type: str
    number: str
    jurisdiction: str = Field(description="the issuing jurisdiction (from)")
    to_jurisdiction: str | None = Field(description="a transfer's receiver (to)")
    amount: str
    effective_date: str
    entry_id: int | None


class TraceBatchPublic(BaseModel):
    id: int
    county: str
    bank: str
    status: str
    line_count: int
    total: str
    release_entry_id: int | None
    by_state: dict[str, str] = Field(description="the lines' amounts by state")


class TraceSummaryPublic(BaseModel):
    """The small part of a fund trace, with totals; the payouts are paged by ``/trace``."""

    jurisdiction: str
    fund: str
    period: str
    allocations: list[TraceDocumentPublic]
    transfers: list[TraceDocumentPublic]
    batches: list[TraceBatchPublic]
    allocated: str = Field(description="Σ allocation documents")
    transferred: str = Field(description="Σ transfers down the tree within the subtree")
    batched: str = Field(description="Σ released batches")
    paid: str = Field(description="Σ payouts the banks confirmed paid")


class TracePayoutPublic(BaseModel):
    """One payout of the trace, masked: no ID number, no account."""

    id: int
    reference: str
    batch_id: int
    county: str
    masked_name: str
    amount: str
    state: str
    last_entry_id: int | None = Field(description="the journal entry that last moved it")
    bank_file_id: int | None = Field(description="the bank file that settled it")
    bank_file_line: int | None = Field(description="its line in that file")
    roster_version_id: int | None = Field(description="the roster row in force for the period")


class PerformancePublic(BaseModel):
    """绩效评价 of one jurisdiction and fund over a fiscal year up to the report's date; rates are
    percentages with two places (as strings), null where there is nothing to divide by."""

    rank: int = Field(
        description="place in the ranking of the subtree (the province: province-wide)"
    )
    jurisdiction: str
    jurisdiction_name: str
    fund: str
    fiscal_year: int
    execution_rate: str | None
    days_to_people: str | None
    transfers_waiting: int
    failed: int
    reissued_in_time: int
    reissued_in_time_rate: str | None
    payouts: int
    findings: int
    findings_per_thousand: str | None
    households: int
    reviewed: int
    review_coverage: str | None
