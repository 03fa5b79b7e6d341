"""API schemas of the notice's registers (tables in migration 0018)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, Field


class ReviewCreate(BaseModel):
    """One review of a household: an information check (信息化核对) or a home visit (入户调查)."""

    household_id: str = Field(min_length=1, max_length=100, examples=["H0001"])
    kind: Literal["information_check", "home_visit"] = Field(examples=["home_visit"])
    reviewed_on: date = Field(examples=["2026-11-02"])
    outcome: str = Field(min_length=1, max_length=500, examples=["家庭情况无变化，继续保障"])
    reviewer: str = Field(min_length=1, max_length=100, examples=["王核查"])
    assets: str | None = Field(
        default=None,
        pattern=r"^(0|[1-9][0-9]{0,12})(\.[0-9]{1,2})?$",
        description="Financial assets an information check found, in yuan ('0' for none)",
        examples=["0"],
    )


class ReviewPublic(BaseModel):
    id: int
    county: str
    household_id: str
    kind: str
    reviewed_on: date
    outcome: str
    reviewer: str
    assets_fen: int | None
