"""The JSON of the public API as pydantic v2 models, written for the client alone.

pydantic rather than dataclasses or TypedDicts: it is already the service's dependency, and it
parses what comes back (nested objects, ISO times into aware datetimes, closed value sets)
instead of handing the caller unchecked dicts. The models mirror the service's schemas without
importing them, so the client installs and runs without the web app.

Requests forbid unknown fields, so a misspelt field fails here rather than as a 422; their limits
(lengths, ranges) are left to the service, which answers breaches with an ``InvalidRequestError``
naming the field. Answers ignore fields they do not know, so a newer service does not break an
older client.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Route = Literal["human", "automation"]
Priority = Literal["urgent", "high", "normal", "low"]
Status = Literal["open", "claimed", "resolved"]
Outcome = Literal["resolved", "escalated", "not_needed"]
Dimension = Literal["emotional", "complex", "nuanced"]
Correction = Literal[0, 1]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Customer(_Request):
    id: str | None = None
    tier: str | None = None


class Ticket(_Request):
    """One ticket to score (``POST /v1/score``); only ``text`` is required."""

    text: str
    id: str | None = None
    source: str | None = Field(
        default=None, description="Which helpdesk sends it; the service's default is 'api'."
    )
    subject: str | None = None
    language: str | None = Field(default=None, description="A language hint (ISO 639-1).")
    channel: str | None = None
    customer: Customer | None = None
    previous_contacts: int | None = None
    metadata: dict[str, str] | None = None


class DimensionScores(_Answer):
    emotional: float
    complex: float
    nuanced: float


class Reason(_Answer):
    """A phrase that raised a score, or a routing rule that fired; ``text == ticket[field][start:end]``."""

    dimension: Literal["emotional", "complex", "nuanced", "needs_human"] | None = None
    rule: str | None = None
    text: str | None = None
    field: Literal["text", "subject"] | None = None
    start: int | None = None
    end: int | None = None
    weight: float | None = None


class ScoreResult(_Answer):
    """The service's decision on one ticket."""

    id: str | None
    route: Route
    needs_human: float | None
    dimensions: DimensionScores | None
    priority: Priority
    reasons: list[Reason]
    rules: list[str]
    language: str
    language_supported: bool
    model_version: str
    threshold: float
    policy_version: str


class BatchResults(_Answer):
    results: list[ScoreResult]


class ScoreEvent(_Answer):
    scored_at: datetime
    route: Route
    priority: Priority
    needs_human: float | None
    dimensions: DimensionScores | None
    rules: list[str]
    model_version: str
    policy_version: str


class StoredTicket(_Answer):
    """A stored ticket (``GET /v1/tickets/{id}``); ``text`` is None once retention removed it."""

    id: str
    source: str
    text: str | None
    subject: str | None
    channel: str | None
    customer_id: str | None
    language: str
    language_supported: bool
    route: Route
    priority: Priority
    needs_human: float | None
    dimensions: DimensionScores | None
    threshold: float
    reasons: list[Reason]
    rules: list[str]
    model_version: str
    policy_version: str
    times_scored: int
    first_seen_at: datetime
    scored_at: datetime
    text_purged_at: datetime | None
    history: list[ScoreEvent]


class QueueItem(_Answer):
    """A ticket waiting for (or handled by) a person."""

    id: int
    ticket_id: str
    source: str
    status: Status
    priority: Priority
    language: str
    top_dimension: Dimension | None
    dimensions: DimensionScores | None
    needs_human: float | None
    text: str | None
    subject: str | None
    reasons: list[Reason]
    rules: list[str]
    created_at: datetime
    waiting_seconds: float
    claimed_by: str | None
    lease_expires_at: datetime | None
    resolved_at: datetime | None
    outcome: Outcome | None


class QueuePage(_Answer):
    items: list[QueueItem]
    next_cursor: str | None


class Feedback(_Answer):
    """Stored feedback: an agent's verdict on a queue item, or a helpdesk's missed case."""

    id: int
    ticket_id: str
    kind: Literal["agent", "missed"]
    flag_correct: bool | None
    corrections: dict[str, int]
    note: str | None
    created_at: datetime


class OutcomeReport(_Answer):
    """What became of a stored ticket, as stored (``POST /v1/outcomes``)."""

    ticket_id: str
    source: str
    csat: int | None
    reopened: bool | None
    reported_at: datetime


class Health(_Answer):
    status: str


class Readiness(_Answer):
    """``status`` is 'ready' once a model is loaded, 'loading' before."""

    status: str
    model_version: str | None = None
    policy_version: str | None = None

    @property
    def ready(self) -> bool:
        return self.status == "ready"
