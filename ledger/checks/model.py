"""What a check finds: a named rule, its severity, a plain-Chinese message and the evidence."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["blocking", "warning", "info"]


@dataclass(frozen=True)
class Finding:
    rule: str  # e.g. "paid_after_death", "same_person_twice"
    severity: Severity
    jurisdiction: str
    message: str  # plain Chinese, for the audit report and the batch screen
    evidence: dict[str, Any] = field(default_factory=dict)  # ids: payout, household, entry, batch…
    fund: str | None = None
    period: str | None = None
    batch_id: int | None = None
