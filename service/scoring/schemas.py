"""Request and response bodies of the scoring API; strict: unknown fields and wrong types are a 422."""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypedDict

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

MAX_TEXT_CHARS = 20_000
MAX_BATCH = 1_000
MAX_METADATA_ITEMS = 50
MAX_METADATA_KEY = 64
MAX_METADATA_VALUE = 1_000

Route = Literal["human", "automation"]
PriorityName = Literal["urgent", "high", "normal", "low"]
# PostgreSQL cannot store NUL and no helpdesk sends it: every string that may be stored refuses it,
# in the schema, so that clients can see the rule.
NO_NUL = r"^[^\x00]*$"


def _whole_number(value: object) -> object:
    # JSON Schema counts 926.0 as an integer, and so do some JSON encoders; strict validation
    # would refuse it, lax validation would take "926" as well.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# After the constraints in an Annotated, so that they stay in the JSON schema.
WHOLE_NUMBER = BeforeValidator(_whole_number)
ShortStr = Annotated[str, Field(min_length=1, max_length=256, pattern=NO_NUL)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Customer(_Strict):
    id: ShortStr | None = None
    tier: Annotated[str, Field(min_length=1, max_length=64, pattern=NO_NUL)] | None = None


class TicketScoreRequest(_Strict):
    """One ticket to score."""

    # The NUL rule in the schema only: a substring test in _not_blank checks it several times
    # faster than a pattern over up to 20,000 characters, on the scoring path.
    text: Annotated[
        str, Field(min_length=1, max_length=MAX_TEXT_CHARS, json_schema_extra={"pattern": NO_NUL})
    ]
    id: ShortStr | None = None
    source: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")] | None = Field(
        default=None,
        description="Which helpdesk the ticket comes from (default 'api'); (source, id) names a stored ticket.",
    )
    subject: Annotated[str, Field(max_length=1_000, pattern=NO_NUL)] | None = None
    language: Annotated[str, Field(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")] | None = Field(
        default=None, description="The helpdesk's language hint (ISO 639-1); used when detection is unsure."
    )
    channel: Annotated[str, Field(min_length=1, max_length=64, pattern=NO_NUL)] | None = None
    customer: Customer | None = None
    previous_contacts: Annotated[int, Field(ge=0, le=100_000), WHOLE_NUMBER] | None = None
    metadata: (
        dict[
            Annotated[str, Field(min_length=1, max_length=MAX_METADATA_KEY, pattern=NO_NUL)],
            Annotated[str, Field(max_length=MAX_METADATA_VALUE, pattern=NO_NUL)],
        ]
        | None
    ) = None

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if "\x00" in value:
            raise ValueError("must not contain the NUL character")
        if not value.strip():
            raise ValueError("text must contain more than whitespace")
        return value

    @field_validator("metadata")
    @classmethod
    def _bounded(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is not None and len(value) > MAX_METADATA_ITEMS:
            raise ValueError(f"metadata holds at most {MAX_METADATA_ITEMS} entries")
        return value


class BatchScoreRequest(_Strict):
    tickets: Annotated[list[TicketScoreRequest], Field(min_length=1, max_length=MAX_BATCH)]


class DimensionScores(BaseModel):
    emotional: float
    complex: float
    nuanced: float


class Reason(BaseModel):
    """A phrase that raised a score (``dimension``), or a routing rule that fired (``rule``).

    When ``text`` is set, ``text == ticket[field][start:end]``; rules that look at fields other
    than the text (previous contacts, customer tier) carry no span.
    """

    dimension: Literal["emotional", "complex", "nuanced", "needs_human"] | None = None
    rule: str | None = None
    text: str | None = None
    field: Literal["text", "subject"] | None = None
    start: int | None = None
    end: int | None = None
    weight: float | None = Field(default=None, description="Share of the score's logit, for phrases.")


class TicketScore(BaseModel):
    id: str | None
    route: Route
    needs_human: float | None = Field(description="Calibrated P(needs human); null when not scored.")
    dimensions: DimensionScores | None
    priority: PriorityName
    reasons: list[Reason]
    rules: list[str]
    language: str
    language_supported: bool
    model_version: str
    threshold: float
    policy_version: str


class TicketAnswer(TypedDict):
    """A ``TicketScore.model_dump()``, built as plain data by the scoring engine.

    The serving path never builds the pydantic object: validating an answer the engine itself made
    cost a tenth of scoring one ticket. ``engine.answer_json`` of an answer gives the bytes of
    ``TicketScore.model_dump_json()`` (a test holds them equal), so the API's schema stays
    ``TicketScore``. ``reasons`` are ``Reason.model_dump()`` dicts (every key, in schema order).
    """

    id: str | None
    route: Route
    needs_human: float | None
    dimensions: dict[str, float] | None
    priority: PriorityName
    reasons: list[dict[str, Any]]
    rules: list[str]
    language: str
    language_supported: bool
    model_version: str
    threshold: float
    policy_version: str


class BatchScoreResponse(BaseModel):
    results: list[TicketScore]


def redact_loc(loc: Any) -> list[Any]:
    """An error location with the client's own keys (metadata keys) replaced by "[key]"."""
    parts = list(loc)
    for i, part in enumerate(parts[:-1]):
        if part == "metadata":
            parts[i + 1] = "[key]"
            break
    return parts
