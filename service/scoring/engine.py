"""Scoring one ticket: language check, model, reasons, rules and routing, with no web framework.

The HTTP routes and the ``triage score`` / ``score-file`` commands all call :func:`score_ticket`,
so a batch scored from a file gets exactly the API's answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from service.model.bundle import DIMENSIONS, HEADS, Scored, TriageModel
from service.model.features import Analysis
from service.model.language import LanguageDetector
from service.scoring.policy import PRIORITY_ORDER, RoutingPolicy
from service.scoring.schemas import DimensionScores, Reason, TicketScore, TicketScoreRequest

SUBJECT_SEPARATOR = "\n\n"
NEEDS_HUMAN = HEADS.index("needs_human")


@dataclass(frozen=True)
class Scorer:
    """Everything needed to score: the model, its language detector and the routing policy."""

    model: TriageModel
    detector: LanguageDetector
    policy: RoutingPolicy

    @classmethod
    def build(cls, *, model: TriageModel, policy: RoutingPolicy, min_confidence: float = 0.9) -> Scorer:
        detector = LanguageDetector(model.languages, min_confidence=min_confidence)
        return cls(model=model, detector=detector, policy=policy)


def _phrase_reasons(
    scorer: Scorer, ticket: TicketScoreRequest, analysis: Analysis, scored: Scored, heads: list[int]
) -> list[Reason]:
    subject = ticket.subject or ""
    offset = len(subject) + len(SUBJECT_SEPARATOR) if subject else 0
    reasons: list[Reason] = []
    for head in heads:
        for phrase in scorer.model.phrases(analysis, scored, head):
            start, end = phrase.start, phrase.end
            if subject and start < offset:
                field, source = "subject", subject
                end = min(end, len(subject))
            else:
                field, source = "text", ticket.text
                start, end = max(start, offset) - offset, end - offset
            reasons.append(
                Reason(
                    dimension=HEADS[head],  # type: ignore[arg-type]
                    text=source[start:end],
                    field=field,  # type: ignore[arg-type]
                    start=start,
                    end=end,
                    weight=round(phrase.weight, 4),
                )
            )
    return reasons


def score_ticket(*, scorer: Scorer, ticket: TicketScoreRequest) -> TicketScore:
    """Score, explain and route one ticket."""
    model, policy = scorer.model, scorer.policy
    threshold = policy.threshold_for(model.threshold)
    customer = ticket.customer
    matches = policy.matches(
        text=ticket.text,
        subject=ticket.subject,
        previous_contacts=ticket.previous_contacts,
        tier=customer.tier if customer else None,
    )
    rule_reasons = [
        Reason(
            rule=m.rule,
            field=m.field,  # type: ignore[arg-type]
            start=m.start,
            end=m.end,
            text=(ticket.text if m.field == "text" else ticket.subject or "")[m.start : m.end]
            if m.field is not None
            else None,
        )
        for m in matches
    ]
    rule_priority = min((m.priority for m in matches), key=PRIORITY_ORDER.__getitem__, default="low")
    full = f"{ticket.subject}{SUBJECT_SEPARATOR}{ticket.text}" if ticket.subject else ticket.text
    featurizer = model.featurizer
    analysis = featurizer.analyze(full)
    guess = scorer.detector.detect(ticket.text, hint=ticket.language, analysis=analysis)
    common = {
        "id": ticket.id,
        "language": guess.language,
        "language_supported": guess.supported,
        "model_version": model.version,
        "threshold": round(threshold, 6),
        "policy_version": policy.version,
    }
    if not guess.supported:
        reason = Reason(rule="unsupported_language")
        return TicketScore(
            route="human",
            needs_human=None,
            dimensions=None,
            priority=min(rule_priority, "normal", key=PRIORITY_ORDER.__getitem__),  # type: ignore[arg-type]
            reasons=[reason, *rule_reasons],
            rules=["unsupported_language", *(m.rule for m in matches)],
            **common,  # type: ignore[arg-type]
        )

    scored = model.score(analysis)
    proba = scored.proba
    needs_human = float(proba[NEEDS_HUMAN])
    by_model = needs_human >= threshold
    route = "human" if by_model or matches else "automation"
    if route == "human":
        band = policy.band(needs_human) if by_model else "normal"
        priority = min(band, rule_priority, key=PRIORITY_ORDER.__getitem__)
    else:
        priority = "low"
    dim_thresholds = model.dimension_thresholds
    flagged = [HEADS.index(d) for d in DIMENSIONS if proba[HEADS.index(d)] >= dim_thresholds[d]]
    if by_model:
        flagged.append(NEEDS_HUMAN)
    reasons = rule_reasons + _phrase_reasons(scorer, ticket, analysis, scored, flagged)
    return TicketScore(
        route=route,  # type: ignore[arg-type]
        needs_human=round(needs_human, 6),
        dimensions=DimensionScores(**{d: round(float(proba[HEADS.index(d)]), 6) for d in DIMENSIONS}),
        priority=priority,  # type: ignore[arg-type]
        reasons=reasons,
        rules=[m.rule for m in matches],
        **common,  # type: ignore[arg-type]
    )
