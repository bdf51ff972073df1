"""Scoring one ticket: language check, model, reasons, rules and routing, with no web framework.

The HTTP routes and the ``triage score`` / ``score-file`` commands all call :func:`score_ticket`,
so a batch scored from a file gets exactly the API's answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from service.model.bundle import DIMENSIONS, HEADS, TriageModel
from service.model.features import SUBJECT_SEPARATOR, model_text
from service.model.language import LanguageDetector
from service.model.serving import ServingPlan, TextScore
from service.scoring.policy import PRIORITY_ORDER, RoutingPolicy, RuleMatch
from service.scoring.schemas import (
    DimensionScores,
    PriorityName,
    Reason,
    Route,
    TicketScore,
    TicketScoreRequest,
)

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
        )


def _phrase_reasons(ticket: TicketScoreRequest, scored: TextScore) -> list[Reason]:
    subject = ticket.subject or ""
    offset = len(subject) + len(SUBJECT_SEPARATOR) if subject else 0
    reasons: list[Reason] = []
    for head, start, end, weight in scored.phrases:
        field: Literal["text", "subject"]
        if subject and start < offset:
            field, source = "subject", subject
            end = min(end, len(subject))
        else:
            field, source = "text", ticket.text
            start, end = max(start, offset) - offset, end - offset
        reasons.append(
            Reason(
                dimension=HEADS[head],
                text=source[start:end],
                field=field,
                start=start,
                end=end,
                weight=round(weight, 4),
            )
        )
    return reasons


def _rule_reason(ticket: TicketScoreRequest, m: RuleMatch) -> Reason:
    if m.field is None or m.start is None or m.end is None:
        return Reason(rule=m.rule)
    source = ticket.text if m.field == "text" else ticket.subject or ""
    return Reason(rule=m.rule, field=m.field, start=m.start, end=m.end, text=source[m.start : m.end])


def score_ticket(*, scorer: Scorer, ticket: TicketScoreRequest) -> TicketScore:
    """Score, explain and route one ticket."""
    model, policy = scorer.model, scorer.policy
    threshold = scorer.threshold
    customer = ticket.customer
    matches = policy.matches(
        text=ticket.text,
        subject=ticket.subject,
        previous_contacts=ticket.previous_contacts,
        tier=customer.tier if customer else None,
    )
    rule_reasons = [_rule_reason(ticket, m) for m in matches]
    rule_names = [m.rule for m in matches]
    rule_priority: PriorityName = min(
        (m.priority for m in matches), key=PRIORITY_ORDER.__getitem__, default="low"
    )
    scored = scorer.plan.score(model_text(ticket.text, ticket.subject))
    language = scored.fast_language
    if language is None:
        guess = scorer.detector.detect(ticket.text, hint=ticket.language)
        language = guess.language
        if not guess.supported:
            return TicketScore(
                id=ticket.id,
                route="human",
                needs_human=None,
                dimensions=None,
                priority=min(rule_priority, "normal", key=PRIORITY_ORDER.__getitem__),
                reasons=[Reason(rule="unsupported_language"), *rule_reasons],
                rules=["unsupported_language", *rule_names],
                language=language,
                language_supported=False,
                model_version=model.version,
                threshold=round(threshold, 6),
                policy_version=policy.version,
            )

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
    return TicketScore(
        id=ticket.id,
        route=route,
        needs_human=round(needs_human, 6),
        dimensions=DimensionScores(
            emotional=round(proba[0], 6),
            complex=round(proba[1], 6),
            nuanced=round(proba[2], 6),
        ),
        priority=priority,
        reasons=reasons,
        rules=rule_names,
        language=language,
        language_supported=True,
        model_version=model.version,
        threshold=round(threshold, 6),
        policy_version=policy.version,
    )
