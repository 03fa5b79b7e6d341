"""What every benchmark reports, so one harness can print and record them side by side."""

from __future__ import annotations

import resource
from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class Figure:
    case: str  # e.g. "P2 release 1,000,000-payout batch"
    n: int  # items processed
    ours: float  # seconds (lower is better) or a rate, per ``unit``
    baseline: float  # same unit, measured in the same run
    baseline_name: str  # e.g. "COPY into a bare table"
    unit: str = "s"  # "s" or "items/s" or "ms"
    peak_mb: float | None = None
    note: str = ""

    @property
    def ratio(self) -> float:
        """How many times the baseline we take (for seconds) or reach (for rates)."""
        if self.unit == "items/s":
            return self.ours / self.baseline if self.baseline else 0.0
        return self.ours / self.baseline if self.baseline else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": round(self.ratio, 3)}


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
