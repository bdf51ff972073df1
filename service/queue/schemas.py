"""Bodies of the queue API; strict like the scoring API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from service.scoring.schemas import NO_NUL, WHOLE_NUMBER, DimensionScores, PriorityName, Reason

Status = Literal["open", "claimed", "resolved"]
Outcome = Literal["resolved", "escalated", "not_needed"]
DimensionName = Literal["emotional", "complex", "nuanced"]
Agent = Annotated[str, Field(min_length=1, max_length=128, pattern=NO_NUL)]
Note = Annotated[str, Field(max_length=5_000, pattern=NO_NUL)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class QueueItemOut(BaseModel):
    id: int
    ticket_id: str
    source: str
    status: Status
    priority: PriorityName
    language: str
    top_dimension: DimensionName | None
    dimensions: DimensionScores | None
    needs_human: float | None
    text: str | None
    subject: str | None
    reasons: list[Reason]
    rules: list[str]
    created_at: datetime
    waiting_seconds: float = Field(description="Time since the ticket was queued (until resolved).")
    claimed_by: str | None
    lease_expires_at: datetime | None
    resolved_at: datetime | None
    outcome: Outcome | None


class QueuePage(BaseModel):
    items: list[QueueItemOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null on the last page.")


class ClaimRequest(_Strict):
    agent: Agent | None = Field(
        default=None, description="Open mode only; with keys the agent is the key's name."
    )
    lease_seconds: Annotated[int, Field(ge=30, le=8 * 3600), WHOLE_NUMBER] = 900


class AgentRequest(_Strict):
    agent: Agent | None = Field(
        default=None, description="Open mode only; with keys the agent is the key's name."
    )


class ResolveRequest(_Strict):
    agent: Agent | None = None
    outcome: Outcome


class FeedbackRequest(_Strict):
    agent: Agent | None = None
    flag_correct: bool = Field(description="Did this ticket need a person?")
    corrections: dict[DimensionName, Literal[0, 1]] = Field(default_factory=dict)
    note: Note | None = None


class MissedCaseRequest(_Strict):
    """A ticket that automation kept but that needed a person."""

    id: Annotated[str, Field(min_length=1, max_length=256, pattern=NO_NUL)]
    source: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")] = "api"
    corrections: dict[DimensionName, Literal[0, 1]] = Field(default_factory=dict)
    note: Note | None = None
    reporter: Agent | None = Field(default=None, description="Open mode only; with keys, the key's name.")


class FeedbackOut(BaseModel):
    id: int
    ticket_id: str
    kind: Literal["agent", "missed"]
    flag_correct: bool | None
    corrections: dict[str, int]
    note: str | None
    created_at: datetime
