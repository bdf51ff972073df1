"""Scoring one ticket: language check, model, reasons, rules and routing, with no web framework.

The HTTP routes, the webhook inbox and the shadow call :func:`answer_ticket`, whose answer is
plain data (a :class:`TicketAnswer`, the ``TicketScore.model_dump()`` of the answer) that they
store and write with :func:`answer_json` without building the pydantic object; ``score-file``
calls :func:`score_many`, which scores a chunk of tickets in one compiled call. Both build the
answer with :func:`_result`, so a file gets exactly the API's answers. :func:`score_ticket` gives
the validated ``TicketScore`` for callers that want the object (the ``triage score`` command).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic_core import to_json

from service.model.bundle import DIMENSIONS, HEADS, TriageModel
from service.model.hashing import SUBJECT_SEPARATOR, model_text
from service.model.language import LanguageDetector
from service.model.serving import ServingPlan, TextScore
from service.scoring.policy import PRIORITY_ORDER, RoutingPolicy, RuleMatch
from service.scoring.schemas import PriorityName, Route, TicketAnswer, TicketScore, TicketScoreRequest

NEEDS_HUMAN = HEADS.index("needs_human")


@dataclass(frozen=True)
class Scorer:
    """Everything needed to score: the model, its language detector and the routing policy."""

    model: TriageModel
    detector: LanguageDetector
    policy: RoutingPolicy
    dimension_thresholds: tuple[float, ...]
    threshold: float  # needs_human, from the policy or the model
    plan: ServingPlan
    # The fields every answer repeats, computed once: per ticket they were a measurable share
    # of score-file's time (py-spy).
    model_version: str
    rounded_threshold: float

    @classmethod
    def build(cls, *, model: TriageModel, policy: RoutingPolicy, min_confidence: float = 0.9) -> Scorer:
        detector = LanguageDetector(model.languages, min_confidence=min_confidence)
        thresholds = tuple(model.dimension_thresholds[d] for d in DIMENSIONS)
        threshold = policy.threshold_for(model.threshold)
        plan = ServingPlan.build(model=model, detector=detector, thresholds=(*thresholds, threshold))
        return cls(
            model=model,
            detector=detector,
            policy=policy,
            dimension_thresholds=thresholds,
            threshold=threshold,
            plan=plan,
            model_version=model.version,
            rounded_threshold=round(threshold, 6),
        )


def _reason(
    *,
    dimension: str | None = None,
    rule: str | None = None,
    text: str | None = None,
    field: str | None = None,
    start: int | None = None,
    end: int | None = None,
    weight: float | None = None,
) -> dict[str, Any]:
    """A ``Reason.model_dump()``: every field, in the schema's order."""
    return {
        "dimension": dimension,
        "rule": rule,
        "text": text,
        "field": field,
        "start": start,
        "end": end,
        "weight": weight,
    }


def _phrase_reasons(ticket: TicketScoreRequest, scored: TextScore) -> list[dict[str, Any]]:
    subject = ticket.subject or ""
    offset = len(subject) + len(SUBJECT_SEPARATOR) if subject else 0
    reasons = []
    for head, start, end, weight in scored.phrases:
        field: Literal["text", "subject"]
        # A phrase never spans the blank line between subject and body (kernels.top_phrases).
        if subject and start < offset:
            field, source = "subject", subject
        else:
            field, source = "text", ticket.text
            start, end = max(start, offset) - offset, end - offset
        # _reason's dict written out: the call with its keywords cost more than the dict.
        reasons.append(
            {
                "dimension": HEADS[head],
                "rule": None,
                "text": source[start:end],
                "field": field,
                "start": start,
                "end": end,
                "weight": round(weight, 4),
            }
        )
    return reasons


def _rule_reason(ticket: TicketScoreRequest, m: RuleMatch) -> dict[str, Any]:
    if m.field is None or m.start is None or m.end is None:
        return _reason(rule=m.rule)
    source = ticket.text if m.field == "text" else ticket.subject or ""
    return _reason(rule=m.rule, field=m.field, start=m.start, end=m.end, text=source[m.start : m.end])


def _result(*, scorer: Scorer, ticket: TicketScoreRequest, scored: TextScore) -> TicketAnswer:
    """The answer for one ticket whose model text the plan scored, as ``TicketScore.model_dump()``."""
    policy = scorer.policy
    threshold = scorer.threshold
    customer = ticket.customer
    matches = policy.matches(
        text=ticket.text,
        subject=ticket.subject,
        previous_contacts=ticket.previous_contacts,
        tier=customer.tier if customer else None,
    )
    rule_priority: PriorityName = "low"
    if matches:
        rule_reasons = [_rule_reason(ticket, m) for m in matches]
        rule_names = [m.rule for m in matches]
        rule_priority = min((m.priority for m in matches), key=PRIORITY_ORDER.__getitem__)
    else:
        rule_reasons, rule_names = [], []
    language = scored.fast_language
    if language is None:
        language, supported = scorer.detector.language_of(ticket.text, hint=ticket.language)
        if not supported:
            return {
                "id": ticket.id,
                "route": "human",
                "needs_human": None,
                "dimensions": None,
                "priority": min(rule_priority, "normal", key=PRIORITY_ORDER.__getitem__),
                "reasons": [_reason(rule="unsupported_language"), *rule_reasons],
                "rules": ["unsupported_language", *rule_names],
                "language": language,
                "language_supported": False,
                "model_version": scorer.model_version,
                "threshold": scorer.rounded_threshold,
                "policy_version": policy.version,
            }

    proba = scored.proba
    needs_human = proba[NEEDS_HUMAN]
    by_model = needs_human >= threshold
    route: Route = "human" if by_model or matches else "automation"
    if route == "human":
        band = policy.band(needs_human) if by_model else "normal"
        priority: PriorityName = min(band, rule_priority, key=PRIORITY_ORDER.__getitem__)
    else:
        priority = "low"
    # The plan found phrases for exactly the heads at or over their thresholds.
    reasons = rule_reasons + _phrase_reasons(ticket, scored) if scored.phrases else rule_reasons
    return {
        "id": ticket.id,
        "route": route,
        "needs_human": round(needs_human, 6),
        "dimensions": {
            "emotional": round(proba[0], 6),
            "complex": round(proba[1], 6),
            "nuanced": round(proba[2], 6),
        },
        "priority": priority,
        "reasons": reasons,
        "rules": rule_names,
        "language": language,
        "language_supported": True,
        "model_version": scorer.model_version,
        "threshold": scorer.rounded_threshold,
        "policy_version": policy.version,
    }


def answer_json(value: object) -> bytes:
    """An answer (or a structure of answers) as the JSON ``TicketScore.model_dump_json()`` writes:
    pydantic's serializer, with a non-finite float as null, as the model writes it (to_json's
    default would write NaN, which no JSON parser reads)."""
    return to_json(value, inf_nan_mode="null")


def answer_ticket(*, scorer: Scorer, ticket: TicketScoreRequest) -> TicketAnswer:
    """Score, explain and route one ticket: the answer as plain data."""
    scored = scorer.plan.score(model_text(ticket.text, ticket.subject))
    return _result(scorer=scorer, ticket=ticket, scored=scored)


def score_ticket(*, scorer: Scorer, ticket: TicketScoreRequest) -> TicketScore:
    """:func:`answer_ticket`, validated into the API's ``TicketScore``."""
    return TicketScore.model_validate(answer_ticket(scorer=scorer, ticket=ticket))


def score_many(*, scorer: Scorer, tickets: list[TicketScoreRequest]) -> list[bytes]:
    """The JSON of :func:`score_ticket`'s answer for each ticket, scored in one compiled call."""
    scored = scorer.plan.score_many([model_text(t.text, t.subject) for t in tickets])
    # pydantic's own serializer, so the bytes are those of TicketScore.model_dump_json().
    return [
        answer_json(_result(scorer=scorer, ticket=ticket, scored=s))
        for ticket, s in zip(tickets, scored, strict=True)
    ]
