"""What a job looks like to its caller."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel

# ``progress(done, total)``: how far a long import is, in lines (total None while unknown).
ProgressFn = Callable[[int, int | None], None]
JobState = Literal["queued", "running", "succeeded", "failed"]


class JobProgress(BaseModel):
    done: int
    total: int | None


class JobPublic(BaseModel):
    """A job's state; ``result`` is what the same work answers when run directly, ``error``
    the error shape it refused or failed with."""

    id: int
    kind: str
    state: JobState
    progress: JobProgress
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    created_by: str
    created_at: dt.datetime
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
