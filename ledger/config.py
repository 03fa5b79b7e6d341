"""Settings read from the environment (prefix ``LEDGER_``) and refused when unsafe."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator, model_validator
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
    read_database_url: str | None = Field(
        default=None,
        description="URL of a streaming replica (hot standby) that reports, exports and fund "
        "flows read from; the books are written on the primary only. Unset: read the primary.",
    )
    read_max_wait_seconds: float = Field(
        default=5.0,
        ge=0,
        le=600,
        description="How long a read waits for the replica to replay the primary's chain head "
        "before it is refused (503 replica_behind); 0 refuses at once.",
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
    job_threshold_bytes: int = Field(
        default=5 * 1024 * 1024,
        ge=0,
        description="Roster and bank-file uploads larger than this are queued as jobs (202).",
    )
    group_posting: bool = Field(
        default=False,
        description=(
            "HTTP writes are handed to one group poster per server process, which commits many "
            "per transaction (one savepoint each). Off (the default, which measured faster for one writer): one transaction per write."
        ),
    )
    roster_exit_confirm_share: float = Field(
        default=0.05,
        ge=0,
        le=1,
        description="A roster replace ending more than this share of households needs confirm_exits.",
    )
    # Parser limits (ledger.limits.ParseLimits): enforced while a file is read.
    max_table_rows: int = Field(default=1_000_000, ge=1, description="Roster/register rows.")
    max_table_columns: int = Field(default=256, ge=1, description="Columns of any table read.")
    max_table_cells: int = Field(default=20_000_000, ge=1, description="Cells of one table.")
    max_line_chars: int = Field(default=65_536, ge=1, description="Characters in one CSV line.")
    max_file_lines: int = Field(default=5_000_000, ge=1, description="Lines of a return file.")
    xlsx_max_unzipped_bytes: int = Field(default=1024 * 1024 * 1024, ge=1)
    xlsx_max_members: int = Field(default=1_000, ge=1)
    xlsx_max_sheets: int = Field(default=64, ge=1)
    xlsx_max_shared_strings: int = Field(default=2_000_000, ge=1)
    trusted_proxies: str = Field(
        default="",
        description="Comma-separated IPs/CIDRs whose X-Forwarded-For is believed.",
    )
    complaint_hotline: str = "12345"
    session_minutes: int = Field(
        default=480, ge=1, le=7 * 24 * 60, description="How long a console login lasts."
    )
    secure_cookies: bool = Field(
        default=False, description="Mark the console's cookies Secure (behind HTTPS)."
    )
    complaint_working_days: int = Field(
        default=15, ge=1, le=365, description="Working days from receipt to a complaint's deadline."
    )
    public_complaints_per_hour: int = Field(
        default=5, ge=1, le=10_000, description="Unauthenticated submissions per client address."
    )
    font_path: Path | None = Field(default=None, description="TrueType CJK font for the PDFs.")
    checkpoint_key: str = Field(
        default=DEMO_CHECKPOINT_KEY,
        description="Ed25519 private key signing checkpoints: a 32-byte seed in hex or base64, "
        "or the path of a PEM or raw 32-byte key file.",
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        for part in value.split(","):
            if part.strip():
                ipaddress.ip_network(part.strip(), strict=False)  # ValueError names the entry
        return value

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
