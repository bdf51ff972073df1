"""``POST /v1/score`` and ``POST /v1/score/batch``.

One ticket costs about a hundred microseconds of CPU. Handing that to the thread pool (a plain
``def`` route) cost far more than the work itself under load: measured with wrk and py-spy, the
worker thread waited on the GIL behind the event loop, and one worker served ~1,000 requests/s.
So the single-ticket route runs on the event loop; the batch route, up to 1,000 tickets and
tens of milliseconds, stays in the thread pool so it cannot stall other requests. Both write
their JSON directly (``model_dump_json``) instead of having FastAPI validate the result again.
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from service.deps import ScorerDep
from service.errors import ERROR_RESPONSES
from service.scoring.schemas import BatchScoreRequest, BatchScoreResponse, TicketScore, TicketScoreRequest
from service.scoring.service import score_and_record

router = APIRouter(prefix="/v1", tags=["scoring"], responses=ERROR_RESPONSES)
JSON = "application/json"


@router.post("/score", response_model=TicketScore)
async def score(ticket: TicketScoreRequest, scorer: ScorerDep) -> Response:
    """Score one ticket: route, calibrated probabilities, priority and the reasons."""
    return Response(score_and_record(scorer=scorer, ticket=ticket).model_dump_json(), media_type=JSON)


@router.post("/score/batch", response_model=BatchScoreResponse)
def score_batch(batch: BatchScoreRequest, scorer: ScorerDep) -> Response:
    """Score up to 1,000 tickets; results come back in request order."""
    results = [score_and_record(scorer=scorer, ticket=t) for t in batch.tickets]
    return Response(BatchScoreResponse(results=results).model_dump_json(), media_type=JSON)
