"""API schemas of the roster and register imports (the tables are in migration 0003)."""

from __future__ import annotations

from pydantic import BaseModel


class IssuePublic(BaseModel):
    line: int
    column: str
    reason: str
    severity: str


class RosterImportPublic(BaseModel):
    import_id: int
    rows: int
    joined: int
    changed: int
    exited: int
    unchanged: int
    warnings: list[IssuePublic]


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
    account_no: str
    account_name: str
    start_period: str
    end_period: str | None
    valid_from: str
