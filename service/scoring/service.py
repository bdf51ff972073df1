"""Scoring as the API does it: score, then count the result in the metrics."""

from __future__ import annotations

from service.model.bundle import DIMENSIONS
from service.observability import LANGUAGES, RULES_FIRED, SCORES, TICKETS_SCORED
from service.scoring.engine import Scorer, score_ticket
from service.scoring.schemas import TicketScore, TicketScoreRequest


def score_and_record(*, scorer: Scorer, ticket: TicketScoreRequest) -> TicketScore:
    """Score one ticket and record its route, rules, language and scores in the metrics."""
    result = score_ticket(scorer=scorer, ticket=ticket)
    TICKETS_SCORED.labels(result.route).inc()
    LANGUAGES.labels(result.language, str(result.language_supported).lower()).inc()
    for rule in result.rules:
        RULES_FIRED.labels(rule).inc()
    if result.dimensions is not None and result.needs_human is not None:
        for dim in DIMENSIONS:
            SCORES.labels(dim).observe(getattr(result.dimensions, dim))
        SCORES.labels("needs_human").observe(result.needs_human)
    return result
