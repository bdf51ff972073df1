"""``POST /v1/score`` and ``POST /v1/score/batch``; plain ``def`` routes, as scoring is CPU-bound."""

from __future__ import annotations

from fastapi import APIRouter

from service.deps import ScorerDep
from service.errors import ERROR_RESPONSES
from service.scoring.schemas import BatchScoreRequest, BatchScoreResponse, TicketScore, TicketScoreRequest
from service.scoring.service import score_and_record

router = APIRouter(prefix="/v1", tags=["scoring"], responses=ERROR_RESPONSES)


@router.post("/score", response_model=TicketScore)
def score(ticket: TicketScoreRequest, scorer: ScorerDep) -> TicketScore:
    """Score one ticket: route, calibrated probabilities, priority and the reasons."""
    return score_and_record(scorer=scorer, ticket=ticket)


@router.post("/score/batch", response_model=BatchScoreResponse)
def score_batch(batch: BatchScoreRequest, scorer: ScorerDep) -> BatchScoreResponse:
    """Score up to 1,000 tickets; results come back in request order."""
    return BatchScoreResponse(results=[score_and_record(scorer=scorer, ticket=t) for t in batch.tickets])
