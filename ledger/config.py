"""Settings read from the environment (prefix ``LEDGER_``) and refused when unsafe."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEMO_SECRET = "demo-only-secret-not-for-production-use"
# The Ed25519 seed that signs checkpoints in the demo and the tests, public on purpose.
DEMO_CHECKPOINT_KEY = "64656d6f2d636865636b706f696e742d6b65792d6e6f742d666f722d70726f64"


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
        default=None,
        description="Role the service switches to after connecting (SET ROLE), e.g. ledger_app.",
    )
    max_upload_bytes: int = 200 * 1024 * 1024
    complaint_hotline: str = "12345"
    font_path: Path | None = Field(default=None, description="TrueType CJK font for the PDFs.")
    checkpoint_key: str = Field(
        default=DEMO_CHECKPOINT_KEY,
        description="Ed25519 private key signing checkpoints: a 32-byte seed in hex or base64, "
        "or the path of a PEM or raw 32-byte key file.",
    )

    @model_validator(mode="after")
    def _refuse_unsafe_defaults(self) -> Settings:
        if self.environment == "production":
            if self.secret_key == DEMO_SECRET or len(self.secret_key) < 32:
                raise ValueError(
                    "LEDGER_SECRET_KEY must be set to 32+ random characters in production"
                )
            if self.checkpoint_key == DEMO_CHECKPOINT_KEY:
                raise ValueError(
                    "LEDGER_CHECKPOINT_KEY must be set to the bureau's own key in production"
                )
            if self.database_url is None:
                raise ValueError("LEDGER_DATABASE_URL must point at a managed server in production")
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
