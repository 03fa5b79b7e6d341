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
    """Peak resident set size of this process so far, in MiB.

    Linux's ``ru_maxrss`` of a child started by fork and exec keeps the parent's resident size
    at the fork (the kernel carries the old address space's high-water mark over the exec), so
    a fresh interpreter would report its parent's fixture; ``VmHWM`` is this process's own."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
