"""Jurisdiction and fund tables (schema from alembic 0001) and their API schemas."""

from __future__ import annotations

from sqlmodel import Field, SQLModel


class Jurisdiction(SQLModel, table=True):
    __tablename__ = "jurisdiction"
    code: str = Field(primary_key=True, max_length=6)
    name: str
    parent_code: str | None = Field(default=None, foreign_key="jurisdiction.code")
    level: int
    pays_directly: bool = False


class Fund(SQLModel, table=True):
    __tablename__ = "fund"
    code: str = Field(primary_key=True)
    name: str
    budget_function_code: str


class JurisdictionPublic(SQLModel):
    code: str
    name: str
    parent_code: str | None
    level: int
    pays_directly: bool


class FundPublic(SQLModel):
    code: str
    name: str
    budget_function_code: str
