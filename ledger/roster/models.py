"""API schemas of the roster and register imports (the tables are in migration 0003)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class IssuePublic(BaseModel):
    line: int
    column: str
    reason: str
    severity: str


class ExitPublic(BaseModel):
    line: int | None = Field(
        description="The file's line that ends the person; null when a replace ends someone the file no longer lists"
    )
    fund: str
    household_id: str
    id_masked: str
    payee_name: str


class RosterImportPublic(BaseModel):
    import_id: int | None = Field(description="null for a dry run")
    mode: str
    dry_run: bool
    rows: int
    joined: int
    changed: int
    exited: int
    unchanged: int
    exited_households: int
    households_in_force: int
    warnings: list[IssuePublic]
    joined_lines: list[int]
    changed_lines: list[int]
    exits: list[ExitPublic]


class RegisterImportPublic(BaseModel):
    import_id: int
    kind: str
    rows: int
    warnings: list[IssuePublic]


class RosterEntryPublic(BaseModel):
    id: int
    fund_code: str
    household_id: str
    payee_name: str
    id_masked: str
    township: str
    village: str
    household_size: int
    amount: str
    bank_code: str
    account_masked: str
    account_name: str
    start_period: str
    end_period: str | None
    valid_from: str
