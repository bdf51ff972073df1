"""Bodies of ``POST /v1/outcomes`` and ``GET /v1/dashboard``."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from service.scoring.schemas import NO_NUL, WHOLE_NUMBER


class OutcomeRequest(BaseModel):
    """What became of a stored ticket: customer satisfaction and whether it was reopened."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        # The rule of _says_something, in the schema for clients and schema-driven tests.
        json_schema_extra={
            "anyOf": [
                {"required": ["csat"], "properties": {"csat": {"type": "integer"}}},
                {"required": ["reopened"], "properties": {"reopened": {"type": "boolean"}}},
            ]
        },
    )

    id: Annotated[str, Field(min_length=1, max_length=256, pattern=NO_NUL)]
    source: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")] = "api"
    csat: Annotated[int, Field(ge=1, le=5), WHOLE_NUMBER] | None = Field(
        default=None, description="CSAT, 1 to 5."
    )
    reopened: bool | None = None

    @model_validator(mode="after")
    def _says_something(self) -> OutcomeRequest:
        if self.csat is None and self.reopened is None:
            raise ValueError("give csat, reopened or both")
        return self


class OutcomeOut(BaseModel):
    ticket_id: str
    source: str
    csat: int | None
    reopened: bool | None
    reported_at: datetime


class Timing(BaseModel):
    count: int
    median_minutes: float | None
    p90_minutes: float | None


class OutcomeGroup(BaseModel):
    route: str
    group: str = Field(
        description="'all', 'language:xx' or 'dimension:name' (the queue item's for a flagged ticket, "
        "the strongest score's for an automated one)."
    )
    tickets: int
    csat_mean: float | None
    csat_count: int
    reopen_rate: float | None
    reopen_count: int


class DayShare(BaseModel):
    day: date
    tickets: int
    human: int


class Dashboard(BaseModel):
    start: datetime
    end: datetime
    tickets: int
    human: int
    human_share: float | None
    days: list[DayShare]
    to_claim: Timing
    to_resolution: Timing
    verdicts: int
    flags_confirmed: int
    precision: float | None = Field(description="Share of agent verdicts saying the flag was right.")
    missed: int
    recall_proxy: float | None = Field(
        description="Confirmed flags / (confirmed flags + missed cases reported)."
    )
    outcomes: list[OutcomeGroup]
