"""``POST /v1/score`` and ``POST /v1/score/batch``.

One ticket costs about a hundred microseconds of CPU. Handing that to the thread pool (a plain
``def`` route) cost far more than the work itself under load: measured with wrk and py-spy, the
worker thread waited on the GIL behind the event loop, and one worker served ~1,000 requests/s.
So the single-ticket route runs on the event loop and awaits the writer thread's commit (group
commit: see ``service.tickets.service``); the batch route, up to 1,000 tickets and tens of
milliseconds, stays in the thread pool so it cannot stall other requests. Both write the engine's
plain answers as JSON (``answer_json``: the bytes ``TicketScore`` would give) instead of
building and validating response models.

A 2xx means the tickets are committed. With an ``Idempotency-Key`` header, the first response
for a key is stored with the tickets and replayed for the same key and body; the same key with
another body is a 422.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Response
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from service.access.service import Principal
from service.deps import ScoringContext, ScoringDep
from service.errors import ERROR_RESPONSES, IdempotencyKeyReusedError
from service.scoring.engine import answer_json
from service.scoring.schemas import (
    BatchScoreRequest,
    BatchScoreResponse,
    TicketAnswer,
    TicketScore,
    TicketScoreRequest,
)
from service.scoring.service import score_and_record
from service.tickets.service import Replay, request_digest, with_ticket_id

router = APIRouter(prefix="/v1", tags=["scoring"], responses=ERROR_RESPONSES)
JSON = "application/json"
COMMIT_TIMEOUT_SECONDS = 120
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=256,
        description="Replays the stored response when the same key comes again with the same body.",
    ),
]


def _replayed(replay: Replay, digest: str) -> Response:
    if replay.request_sha256 != digest:
        raise IdempotencyKeyReusedError("this Idempotency-Key was used with a different request body")
    return Response(
        replay.body, status_code=replay.status_code, media_type=JSON, headers={"Idempotent-Replayed": "true"}
    )


def _scoped(principal: Principal, key: str | None) -> str | None:
    # Keys are the caller's: two clients that happen to pick the same key never see each other's answers.
    return None if key is None else f"{principal.name}:{key}"


def _shadowed(
    context: ScoringContext, answered: list[tuple[TicketScoreRequest, TicketAnswer]]
) -> BackgroundTask | None:
    # Runs after the response is sent, and only queues: the shadow never delays an answer.
    shadow = context.shadow
    return None if shadow is None or shadow.scorer is None else BackgroundTask(shadow.submit, answered)


@router.post("/score", response_model=TicketScore)
async def score(
    ticket: TicketScoreRequest, context: ScoringDep, idempotency_key: IdempotencyKey = None
) -> Response:
    """Score one ticket and store it: route, calibrated probabilities, priority and the reasons."""
    scorer, store, principal = context.scorer, context.store, context.principal
    if store is None:
        return Response(answer_json(score_and_record(scorer=scorer, ticket=ticket)), media_type=JSON)
    digest = ""
    scoped = _scoped(principal, idempotency_key)
    if scoped is not None:
        digest = request_digest(ticket.model_dump_json())
        found = await run_in_threadpool(store.lookup, scoped)
        if found is not None:
            return _replayed(found, digest)
    answer = with_ticket_id(ticket, score_and_record(scorer=scorer, ticket=ticket))
    body = answer_json(answer).decode()
    replay = await store.save([(ticket, answer)], body=body, idempotency_key=scoped, request_sha256=digest)
    if replay is not None:
        return _replayed(replay, digest)
    return Response(body, media_type=JSON, background=_shadowed(context, [(ticket, answer)]))


@router.post("/score/batch", response_model=BatchScoreResponse)
def score_batch(
    batch: BatchScoreRequest, context: ScoringDep, idempotency_key: IdempotencyKey = None
) -> Response:
    """Score and store up to 1,000 tickets; results come back in request order."""
    scorer, store, principal = context.scorer, context.store, context.principal
    digest = ""
    scoped = _scoped(principal, idempotency_key)
    if store is not None and scoped is not None:
        digest = request_digest(batch.model_dump_json())
        found = store.lookup(scoped)
        if found is not None:
            return _replayed(found, digest)
    results = [with_ticket_id(t, score_and_record(scorer=scorer, ticket=t)) for t in batch.tickets]
    body = answer_json({"results": results}).decode()
    if store is not None:
        pairs = list(zip(batch.tickets, results, strict=True))
        future = store.submit(pairs, body=body, idempotency_key=scoped, request_sha256=digest)
        replay = future.result(timeout=COMMIT_TIMEOUT_SECONDS)
        if replay is not None:
            return _replayed(replay, digest)
        return Response(body, media_type=JSON, background=_shadowed(context, pairs))
    return Response(body, media_type=JSON)
