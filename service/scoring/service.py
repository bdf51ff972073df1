"""Scoring as the API does it: score, then count the result in the metrics."""

from __future__ import annotations

from service.model.bundle import DIMENSIONS
from service.observability import LANGUAGES, RULES_FIRED, SCORES, TICKETS_SCORED
from service.scoring.engine import Scorer, answer_ticket
from service.scoring.schemas import TicketAnswer, TicketScoreRequest


def score_and_record(*, scorer: Scorer, ticket: TicketScoreRequest) -> TicketAnswer:
    """Score one ticket and record its route, rules, language and scores in the metrics."""
    answer = answer_ticket(scorer=scorer, ticket=ticket)
    TICKETS_SCORED.labels(answer["route"]).inc()
    LANGUAGES.labels(answer["language"], str(answer["language_supported"]).lower()).inc()
    for rule in answer["rules"]:
        RULES_FIRED.labels(rule).inc()
    dims, needs_human = answer["dimensions"], answer["needs_human"]
    if dims is not None and needs_human is not None:
        for dim in DIMENSIONS:
            SCORES.labels(dim).observe(dims[dim])
        SCORES.labels("needs_human").observe(needs_human)
    return answer
