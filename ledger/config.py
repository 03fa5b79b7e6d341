"""Settings read from the environment (prefix ``LEDGER_``) and refused when unsafe."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEMO_SECRET = "demo-only-secret-not-for-production-use"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEDGER_", env_file=None, extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of an external PostgreSQL; unset starts the embedded server.",
    )
    data_dir: Path = Field(default=Path("var"), description="Embedded database, files, reports.")
    environment: str = Field(default="demo", pattern="^(demo|test|production)$")
    secret_key: str = Field(default=DEMO_SECRET, description="Keys personal-data hashing.")
    db_role: str | None = Field(
        default="ledger_app",
        description=(
            "Login role the service, the CLI and the demo connect as: it cannot disable triggers "
            "or rewrite history. Only migrations run as the URL's owner. Empty: the URL's user."
        ),
    )
    db_app_password: str | None = Field(
        default=None, description="Password of the application role, where the server asks one."
    )
    max_upload_bytes: int = 200 * 1024 * 1024
    roster_exit_confirm_share: float = Field(
        default=0.05,
        ge=0,
        le=1,
        description="A roster replace ending more than this share of households needs confirm_exits.",
    )
    complaint_hotline: str = "12345"
    font_path: Path | None = Field(default=None, description="TrueType CJK font for the PDFs.")

    @model_validator(mode="after")
    def _refuse_unsafe_defaults(self) -> Settings:
        if self.environment == "production":
            if self.secret_key == DEMO_SECRET or len(self.secret_key) < 32:
                raise ValueError(
                    "LEDGER_SECRET_KEY must be set to 32+ random characters in production"
                )
            if self.database_url is None:
                raise ValueError("LEDGER_DATABASE_URL must point at a managed server in production")
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
