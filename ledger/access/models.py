"""API schemas of the caller, users and the audit log (tables from alembic 0001)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class PrincipalPublic(BaseModel):
    username: str
    role: str
    bureau_id: int
    jurisdiction: str
    bank_code: str | None


class UserPublic(BaseModel):
    id: int
    username: str
    display_name: str
    role: str
    active: bool
    bureau_id: int
    bureau: str
    bureau_kind: str
    jurisdiction: str
    bank_code: str | None
    live_tokens: int


class AuditRow(BaseModel):
    id: int
    at: datetime
    user_id: int | None
    username: str | None
    bureau_id: int | None
    role: str | None
    jurisdiction: str | None
    action: str
    object_type: str | None
    object_id: str | None
    request_id: str | None
    client_addr: str | None
    outcome: str
    status_code: int | None
