"""Settings for the service and the CLI: one ``Settings`` object, read from ``TRIAGE_*`` variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from service.access.rate_limits import RateLimits, parse_limit
from service.monitoring.service import DriftLimits


class Settings(BaseSettings):
    """Environment variables with the ``TRIAGE_`` prefix; defaults run from the repository root."""

    model_config = SettingsConfigDict(env_prefix="TRIAGE_", extra="ignore")

    models_dir: Path = Path("models")
    model_name: str = "default"
    model_version: str | None = None
    policy_path: Path = Path("policy.toml")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1)
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    language_min_confidence: float = Field(default=0.9, gt=0, le=1)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # Storage: every scored ticket is committed before its 2xx. Off: scoring only (benchmarks).
    storage: bool = True
    data_dir: Path = Path("data")
    database_url: str | None = Field(default=None, description="Default: SQLite at DATA_DIR/triage.db.")
    migrate_on_start: bool = True
    # Ticket text (and the phrases quoted from it) is cleared this many days after the last scoring.
    # required: every endpoint but health, readiness and metrics needs a key of the right role.
    # open: no keys, for a laptop or a trusted network; the service warns at start.
    auth: Literal["required", "open"] = "open"
    text_retention_days: int = Field(default=90, ge=1, le=3650)
    # The registry: how often each worker looks for a new champion, and how far ahead of now a
    # promotion sets the moment every worker switches (it must cover one poll and one load).
    model_poll_seconds: float = Field(default=2.0, ge=0.1, le=60)
    model_switch_delay_seconds: float = Field(default=5.0, ge=0, le=60)
    # The promotion gate: how much worse than the champion a candidate may be on needs_human.
    promotion_max_auc_drop: float = Field(default=0.01, ge=0, le=1)
    promotion_max_recall_drop: float = Field(default=0.02, ge=0, le=1)
    # The gate's rows: labelled files neither model trained on; default, the seed tickets that
    # both models held out (read from seed_dir).
    gate_data: list[Path] | None = None
    seed_dir: Path = Path("training/data/seed")
    # Drift without labels: the window measured, how often, and when to warn.
    drift_window_hours: float = Field(default=24, gt=0, le=24 * 90)
    drift_interval_seconds: float = Field(default=60, ge=1)
    drift_min_tickets: int = Field(default=200, ge=1)
    drift_max_psi: float = Field(default=0.2, gt=0)
    drift_human_share_tolerance: float = Field(default=0.05, gt=0, le=1)
    drift_max_unsupported_share: float = Field(default=0.10, gt=0, le=1)
    # The agents' page: how long a sign-in lasts.
    session_hours: int = Field(default=12, ge=1, le=24 * 30)
    purge_interval_seconds: int = Field(default=3600, ge=10)
    # Per API key, by the key's role (the `limits` notation: "50/second", "3000/minute"); failed
    # sign-ins per client address; where the counters live (memory: each worker counts alone).
    rate_limit_helpdesk: str = "100/second"
    rate_limit_agent: str = "20/second"
    rate_limit_lead: str = "20/second"
    rate_limit_ops: str = "50/second"
    sign_in_rate_limit: str = "10/minute"
    rate_limit_storage: str = "memory://"

    @field_validator(
        "rate_limit_helpdesk", "rate_limit_agent", "rate_limit_lead", "rate_limit_ops", "sign_in_rate_limit"
    )
    @classmethod
    def _a_rate_limit(cls, value: str) -> str:
        parse_limit(value)
        return value


@lru_cache
def get_settings() -> Settings:
    return Settings()


def drift_limits(settings: Settings) -> DriftLimits:
    return DriftLimits(
        window_hours=settings.drift_window_hours,
        min_tickets=settings.drift_min_tickets,
        max_psi=settings.drift_max_psi,
        human_share_tolerance=settings.drift_human_share_tolerance,
        max_unsupported_share=settings.drift_max_unsupported_share,
    )


def rate_limits(settings: Settings) -> RateLimits:
    return RateLimits(
        per_role={
            "helpdesk": settings.rate_limit_helpdesk,
            "agent": settings.rate_limit_agent,
            "lead": settings.rate_limit_lead,
            "ops": settings.rate_limit_ops,
        },
        sign_in=settings.sign_in_rate_limit,
        storage_uri=settings.rate_limit_storage,
    )
