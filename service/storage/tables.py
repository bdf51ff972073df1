"""The database schema. Alembic migrations in ``migrations/versions`` must match it (``alembic check``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, deferred, mapped_column

# Integer on SQLite, so that the primary key is the rowid and autoincrements.
BigId = BigInteger().with_variant(Integer(), "sqlite")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class TicketRecord(Base):
    """A ticket as last scored. ``text`` and ``subject`` are personal data: retention clears them."""

    __tablename__ = "tickets"
    __table_args__ = (Index("uq_tickets_source_external_id", "source", "external_id", unique=True),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str] = mapped_column(String(256))
    text: Mapped[str | None] = mapped_column(Text)
    subject: Mapped[str | None] = mapped_column(Text)
    channel: Mapped[str | None] = mapped_column(String(64))
    customer_id: Mapped[str | None] = mapped_column(String(256))
    language: Mapped[str] = mapped_column(String(16))
    language_supported: Mapped[bool]
    route: Mapped[str] = mapped_column(String(16))
    priority: Mapped[str] = mapped_column(String(16))
    needs_human: Mapped[float | None] = mapped_column(Float)
    emotional: Mapped[float | None] = mapped_column(Float)
    complex: Mapped[float | None] = mapped_column(Float)
    nuanced: Mapped[float | None] = mapped_column(Float)
    threshold: Mapped[float] = mapped_column(Float)
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    rules: Mapped[list[str]] = mapped_column(JSON)
    model_version: Mapped[str] = mapped_column(String(64))
    policy_version: Mapped[str] = mapped_column(String(64))
    times_scored: Mapped[int] = mapped_column(Integer, default=1)
    first_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    scored_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    text_purged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ScoreEvent(Base):
    """One scoring of a ticket: its history. Scores only, never the text."""

    __tablename__ = "score_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    scored_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    route: Mapped[str] = mapped_column(String(16))
    priority: Mapped[str] = mapped_column(String(16))
    needs_human: Mapped[float | None] = mapped_column(Float)
    emotional: Mapped[float | None] = mapped_column(Float)
    complex: Mapped[float | None] = mapped_column(Float)
    nuanced: Mapped[float | None] = mapped_column(Float)
    rules: Mapped[list[str]] = mapped_column(JSON)
    model_version: Mapped[str] = mapped_column(String(64))
    policy_version: Mapped[str] = mapped_column(String(64))


class IdempotencyRecord(Base):
    """The response to a POST sent with an ``Idempotency-Key``, replayed when the key comes again."""

    __tablename__ = "idempotency_keys"

    key: Mapped[str] = mapped_column(String(256), primary_key=True)
    request_sha256: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response_body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class QueueItem(Base):
    """A ticket routed to a person: at most one per ticket, worked open -> claimed -> resolved."""

    __tablename__ = "queue_items"
    __table_args__ = (Index("ix_queue_items_order", "status", "priority_rank", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), unique=True)
    status: Mapped[str] = mapped_column(String(16))
    priority: Mapped[str] = mapped_column(String(16))
    priority_rank: Mapped[int] = mapped_column(Integer)  # 0 urgent .. 3 low: sorts without a CASE
    language: Mapped[str] = mapped_column(String(16))
    top_dimension: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str | None] = mapped_column(String(16))


class Feedback(Base):
    """An agent's verdict on a flag, or a helpdesk's report of a ticket automation kept (a miss)."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # "agent" or "missed"
    flag_correct: Mapped[bool | None] = mapped_column(Boolean)
    corrections: Mapped[dict[str, int]] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(Text)
    author: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ApiKey(Base):
    """An API key: only its SHA-256 is stored (the key is 256 random bits, so a fast hash suffices)."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    key_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AgentSession(Base):
    """A signed-in browser on the agents' page: only the cookie's SHA-256 is stored.

    Sessions live server-side so that signing out, a revoked key or an expiry ends them at once,
    and so that the service needs no signing secret shared between workers.
    """

    __tablename__ = "agent_sessions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"), index=True)
    agent: Mapped[str] = mapped_column(String(128))
    role: Mapped[str | None] = mapped_column(String(16))  # None: signed in under the open mode
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class ModelVersion(Base):
    """A registered model bundle. The bundle's files live in the row, so that every replica can
    load the champion from the database alone, without a shared disk."""

    __tablename__ = "model_versions"
    __table_args__ = (Index("uq_model_versions_name_version", "name", "version", unique=True),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # candidate, shadow, champion, retired
    model_sha256: Mapped[str] = mapped_column(String(64))
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    registered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    registered_by: Mapped[str] = mapped_column(String(128))
    # When a champion starts serving: every worker and replica switches at this same moment.
    serving_from: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    model_file: Mapped[bytes] = deferred(mapped_column(LargeBinary, nullable=False))
    metadata_json: Mapped[str] = deferred(mapped_column(Text, nullable=False))
    card: Mapped[str] = deferred(mapped_column(Text, nullable=False))


class ModelEvent(Base):
    """Who did what to which model version, when: the registry's audit trail."""

    __tablename__ = "model_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    model_version_id: Mapped[int] = mapped_column(
        ForeignKey("model_versions.id", ondelete="CASCADE"), index=True
    )
    action: Mapped[str] = mapped_column(String(16))  # register, promote, shadow, rollback, retire
    actor: Mapped[str] = mapped_column(String(128))
    forced: Mapped[bool] = mapped_column(Boolean, default=False)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ShadowScore(Base):
    """A shadow model's scores for a ticket the champion answered: scores only, never the text."""

    __tablename__ = "shadow_scores"
    __table_args__ = (Index("ix_shadow_scores_ticket", "source", "external_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str] = mapped_column(String(256))
    model_name: Mapped[str] = mapped_column(String(64))
    model_version: Mapped[str] = mapped_column(String(64), index=True)
    route: Mapped[str] = mapped_column(String(16))
    needs_human: Mapped[float | None] = mapped_column(Float)
    emotional: Mapped[float | None] = mapped_column(Float)
    complex: Mapped[float | None] = mapped_column(Float)
    nuanced: Mapped[float | None] = mapped_column(Float)
    scored_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Outcome(Base):
    """What became of a ticket, as the helpdesk reports it: CSAT and whether it was reopened."""

    __tablename__ = "outcomes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    csat: Mapped[int | None] = mapped_column(Integer)
    reopened: Mapped[bool | None] = mapped_column(Boolean)
    reported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class WebhookInbox(Base):
    """A helpdesk webhook as received: committed before its 202, scored from here.

    ``ticket`` (the ticket to score, as the scoring API's JSON) is personal data: it is cleared
    once the ticket is stored. ``(source, delivery_id)`` is unique, so a repeated delivery is
    acknowledged without being processed twice.
    """

    __tablename__ = "webhook_inbox"
    __table_args__ = (
        Index("uq_webhook_inbox_source_delivery_id", "source", "delivery_id", unique=True),
        Index("ix_webhook_inbox_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(64))
    delivery_id: Mapped[str] = mapped_column(String(256))
    event: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str] = mapped_column(String(256))
    ticket: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # pending, processing, done, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(String(256))


class Delivery(Base):
    """The route decision to write back to a helpdesk ticket: one row per ticket, its latest decision.

    A newer decision replaces the row's (``revision`` counts them), so the helpdesk never gets an
    older decision after a newer one. Status: pending, retrying, delivered, dead (the dead
    letters, re-sent by ``triage deliveries retry``). Scores and the route only, never text.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        Index("uq_deliveries_integration_external_id", "integration", "external_id", unique=True),
        Index("ix_deliveries_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    integration: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str] = mapped_column(String(256))
    decision: Mapped[dict[str, Any]] = mapped_column(JSON)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    dead_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(256))
