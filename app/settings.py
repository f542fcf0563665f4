"""Every FINOPS_* setting in one typed object; the defaults work on a fresh machine."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Operator settings, read from the environment (prefix ``FINOPS_``)."""

    model_config = SettingsConfigDict(env_prefix="FINOPS_", extra="ignore")

    data_dir: Path = Path("./data")
    database_url: str | None = None
    master_key: str | None = Field(default=None, repr=False)
    master_key_file: Path | None = None
    anthropic_base_url: str = "https://api.anthropic.com"
    backfill_months: int = Field(default=6, ge=1, le=36)
    sync_interval_minutes: int = Field(default=15, ge=1, le=24 * 60)
    lookback_days: int = Field(default=3, ge=1, le=60)
    # Claude Enterprise Analytics API: its published rate limit per organization, and how many
    # trailing days each run re-reads (its values are revised for 30 days).
    enterprise_requests_per_minute: float = Field(default=60, gt=0)
    enterprise_lookback_days: int = Field(default=30, ge=1, le=60)
    # Claude Code report of Console organizations (one request series per day); off skips it.
    claude_code: bool = True
    # The app keeps a columnar (DuckDB) copy of the cost and usage rows in a private temporary
    # file, so filtered views stay fast at millions of rows; off: they read the database.
    columnar_copy: bool = True
    # How often the worker looks for newly connected organizations; keeps "backfill within
    # seconds of saving the key" without a scheduler inside Streamlit.
    dispatch_seconds: float = Field(default=3.0, gt=0, le=300)
    http_timeout_seconds: float = Field(default=30.0, gt=0)
    # Wall-clock limit of one request (headers and body): the read timeout above is per chunk,
    # so a trickling upstream would hold a sync forever without it. At most 120 s, which a
    # sync's lease (8 minutes) outlives together with the retries' budget.
    http_deadline_seconds: float = Field(default=120.0, gt=0, le=120)
    # The largest response body read from Anthropic's API; a larger page is refused.
    http_max_response_mib: int = Field(default=64, ge=1, le=4096)
    # How long a SQLite write waits for the lock another process (a sync, a backup) holds
    # before failing with "the database is locked by another process".
    database_busy_timeout_seconds: float = Field(default=30.0, gt=0, le=3600)
    max_retries: int = Field(default=5, ge=0, le=20)
    log_level: str = "INFO"
    # Creates the first administrator at start when no account exists (automation, tests).
    bootstrap_admin_email: str | None = None
    bootstrap_admin_password: str | None = Field(default=None, repr=False)
    session_hours: float = Field(default=12, gt=0, le=24 * 30)
    # Single sign-on through st.login ([auth] in .streamlit/secrets.toml): these emails are
    # admins on first sign-in, everyone else a viewer (an admin can change roles later).
    sso_admin_emails: str = ""
    # Optional email when a backfill completes ("your data is ready").
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: str | None = Field(default=None, repr=False)
    smtp_starttls: bool = True
    smtp_from: str = "finops@localhost"
    notify_email: str | None = None  # comma-separated recipients
    streamlit_port: int = 8501
    # Prometheus metrics of the worker on 127.0.0.1:<port> (/metrics); unset: no server.
    metrics_port: int | None = Field(default=None, ge=1, le=65535)

    @field_validator("anthropic_base_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @property
    def resolved_database_url(self) -> str:
        """The SQLAlchemy URL: the explicit one, or a SQLite file in the data dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'finops.db').resolve()}"

    @property
    def resolved_master_key_file(self) -> Path:
        return self.master_key_file or self.data_dir / "master.key"


class SettingsError(ValueError):
    """A FINOPS_* variable has a value that cannot be used; the message names it."""


def get_settings() -> Settings:
    """Fresh settings from the current environment (cheap; tests change the environment)."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = "FINOPS_" + "_".join(str(part) for part in error["loc"]).upper()
            # Never echo the value: it may be a secret (a master key, a password).
            problems.append(f"{name}: {error['msg']}")
        raise SettingsError("Invalid settings: " + "; ".join(problems)) from None
