"""Bodies of ``/v1/models``."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ModelStatus = Literal["candidate", "shadow", "champion", "retired"]


class ModelVersionOut(BaseModel):
    name: str
    version: str
    status: ModelStatus
    model_sha256: str
    metrics: dict[str, Any] = Field(description="The bundle's own held-out and cross-validation figures.")
    registered_at: datetime
    registered_by: str
    serving_from: datetime | None = Field(description="For the champion: when every worker switched to it.")


class ModelEventOut(BaseModel):
    action: str
    actor: str
    forced: bool
    detail: dict[str, Any]
    at: datetime


class ModelVersionDetail(ModelVersionOut):
    events: list[ModelEventOut]


class PromoteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    force: bool = Field(default=False, description="Promote even when the gate refuses; recorded.")


class ComparisonOut(BaseModel):
    a: str
    b: str
    tickets: int = Field(description="Tickets scored by both versions (as champion or as shadow).")
    agreement: float | None
    human_share_a: float | None
    human_share_b: float | None
    to_human: int = Field(description="Routed to automation by A, to a person by B.")
    to_automation: int = Field(description="Routed to a person by A, to automation by B.")
    mean_abs_diff: float | None
    with_feedback: int
    right_a: float | None = Field(description="Share of the tickets with feedback that A routed right.")
    right_b: float | None
    recall_a: float | None
    recall_b: float | None
