"""Settings for the service and the CLI: one ``Settings`` object, read from ``TRIAGE_*`` variables."""

from __future__ import annotations

import base64
import binascii
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The rate limiter and the drift monitor bring in limits' storage, SQLAlchemy and structlog:
# imported where they are built, so that the CLI's scoring commands do not pay for them at start.
if TYPE_CHECKING:
    from service.access.rate_limits import RateLimits
    from service.monitoring.service import DriftLimits

Provider = Literal["zendesk", "freshdesk", "zammad", "generic"]
# An integration's name is the ``source`` of its tickets, so it follows the same pattern.
INTEGRATION_NAME = r"^[a-z0-9][a-z0-9_.-]{0,63}$"


class Integration(BaseModel):
    """One helpdesk: how its webhooks are verified and where route decisions are written back.

    ``provider`` defaults to the integration's name when that names a provider. ``url`` is the
    helpdesk's base URL (``https://acme.zendesk.com``), or for ``generic`` the URL the decision
    is POSTed to; without it nothing is written back. ``token`` is sent as ``Bearer TOKEN``, with
    ``auth: basic`` as HTTP basic credentials ``user:password`` (Zendesk:
    ``agent@acme.com/token:API_TOKEN``; Freshdesk: ``API_KEY:X``), or with ``auth: token`` as
    ``Token token=TOKEN`` (Zammad's access tokens; ``bearer`` is for its OAuth2 tokens).
    """

    model_config = ConfigDict(extra="forbid")

    provider: Provider | None = None
    secret: SecretStr = Field(min_length=1)
    url: HttpUrl | None = None
    token: SecretStr | None = None
    # "token": Zammad's personal access tokens (``Authorization: Token token=TOKEN``).
    auth: Literal["bearer", "basic", "token"] = "bearer"
    # The helpdesk group a ticket routed to a person is moved to (Zendesk/Freshdesk/Zammad ids).
    human_group_id: int | None = None


def _standard_webhooks_secret(secret: str) -> bool:
    prefix, _, key = secret.partition("_")
    try:
        return prefix == "whsec" and len(base64.b64decode(key, validate=True)) > 0
    except binascii.Error:
        return False


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
        # limits' own parser (what rate_limits.parse_limit calls), without the rate limiter's
        # imports: the access tables (SQLAlchemy) and the logging stack.
        from limits import parse

        parse(value)
        return value

    # Helpdesk integrations, as JSON: {"zendesk": {"secret": "...", "url": "...", "token": "..."}}.
    integrations: dict[Annotated[str, Field(pattern=INTEGRATION_NAME)], Integration] = Field(
        default_factory=dict
    )
    # Webhooks in: how old a signed timestamp may be, and the inbox's processing.
    webhook_tolerance_seconds: int = Field(default=300, ge=1, le=3600)
    inbox_poll_seconds: float = Field(default=1.0, ge=0.01, le=60)
    inbox_max_attempts: int = Field(default=5, ge=1, le=100)
    inbox_retry_seconds: float = Field(default=5.0, ge=0, le=3600)
    # Write-back: retries with exponential backoff and jitter, then the dead-letter state.
    delivery_poll_seconds: float = Field(default=1.0, ge=0.01, le=60)
    delivery_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    delivery_max_attempts: int = Field(default=8, ge=1, le=100)
    delivery_backoff_seconds: float = Field(default=2.0, ge=0, le=3600)
    delivery_backoff_max_seconds: float = Field(default=600.0, ge=0, le=86400)
    delivery_retry_after_max_seconds: float = Field(default=3600.0, ge=0, le=86400)
    # The circuit breaker per integration: open after this many failures in a row, for this long.
    breaker_failures: int = Field(default=5, ge=1, le=1000)
    breaker_cooldown_seconds: float = Field(default=60.0, ge=0, le=3600)

    @model_validator(mode="after")
    def _providers_known(self) -> Settings:
        for name, integration in list(self.integrations.items()):
            provider = integration.provider or name
            if provider not in ("zendesk", "freshdesk", "zammad", "generic"):
                raise ValueError(
                    f"integration {name!r}: set its provider (zendesk, freshdesk, zammad, generic)"
                )
            if provider == "generic" and not _standard_webhooks_secret(integration.secret.get_secret_value()):
                raise ValueError(
                    f"integration {name!r}: a generic secret is whsec_ and base64 (Standard Webhooks)"
                )
            self.integrations[name] = integration.model_copy(update={"provider": provider})
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()


def drift_limits(settings: Settings) -> DriftLimits:
    from service.monitoring.service import DriftLimits

    return DriftLimits(
        window_hours=settings.drift_window_hours,
        min_tickets=settings.drift_min_tickets,
        max_psi=settings.drift_max_psi,
        human_share_tolerance=settings.drift_human_share_tolerance,
        max_unsupported_share=settings.drift_max_unsupported_share,
    )


def rate_limits(settings: Settings) -> RateLimits:
    from service.access.rate_limits import RateLimits

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
