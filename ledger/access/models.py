"""API schemas of the caller, users and the audit log (tables from alembic 0001)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


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


class BankCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(pattern=r"^[A-Z0-9]{2,12}$", examples=["ICBCGD"])
    name: str = Field(min_length=1, max_length=200, examples=["中国工商银行广东省分行"])
    counties: list[str] = Field(
        default_factory=list,
        max_length=200,
        description="counties the bank pays in",
        examples=[["440103", "440104"]],
    )


class BankPublic(BaseModel):
    code: str
    name: str
    counties: list[str]


class UserCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "username": "lw-fin-1",
                    "jurisdiction": "440103",
                    "role": "finance",
                    "bureau": "荔湾区财政局",
                    "display_name": "荔湾区财政局 经办人",
                }
            ]
        },
    )
    username: str = Field(pattern=r"^[a-z0-9_.-]{2,64}$", examples=["lw-fin-1"])
    jurisdiction: str = Field(pattern=r"^[0-9]{6}$", examples=["440103"])
    role: str = Field(
        examples=["finance"], description="finance, civil_affairs, bank, auditor, admin"
    )
    bureau: str = Field(min_length=1, max_length=200, examples=["荔湾区财政局"])
    display_name: str | None = Field(None, max_length=200)
    bank_code: str | None = Field(None, description="bank users only")


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    days: int = Field(30, ge=1, le=366)
    label: str = Field("", max_length=200)


class TokenIssued(BaseModel):
    user_id: int
    username: str
    token: str | None = Field(
        description="shown once, stored only hashed: null when the same key is replayed"
    )
    days: int
    label: str


class TokensRevoked(BaseModel):
    revoked: int
