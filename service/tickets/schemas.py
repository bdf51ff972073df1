"""What ``GET /v1/tickets/{id}`` returns: the stored ticket and every time it was scored."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from service.scoring.schemas import DimensionScores, PriorityName, Reason, Route


class ScoreEventOut(BaseModel):
    scored_at: datetime
    route: Route
    priority: PriorityName
    needs_human: float | None
    dimensions: DimensionScores | None
    rules: list[str]
    model_version: str
    policy_version: str


class StoredTicket(BaseModel):
    id: str
    source: str
    text: str | None = Field(description="Null once retention or an erasure removed it.")
    subject: str | None
    channel: str | None
    customer_id: str | None
    language: str
    language_supported: bool
    route: Route
    priority: PriorityName
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
    history: list[ScoreEventOut]


def dimensions_of(row: Any) -> DimensionScores | None:
    if row.emotional is None or row.complex is None or row.nuanced is None:
        return None
    return DimensionScores(emotional=row.emotional, complex=row.complex, nuanced=row.nuanced)
