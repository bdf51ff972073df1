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
