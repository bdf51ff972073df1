"""``/v1/queue``: list, get, claim, release, resolve and feedback; ``POST /v1/feedback`` for misses.

Until API keys exist (a later issue), an agent names itself in the body; holding an item is
checked against that name.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from service.deps import SessionDep
from service.errors import ERROR_RESPONSES, ErrorResponse
from service.queue import service
from service.queue.schemas import (
    AgentRequest,
    ClaimRequest,
    DimensionName,
    FeedbackOut,
    FeedbackRequest,
    MissedCaseRequest,
    QueueItemOut,
    QueuePage,
    ResolveRequest,
    Status,
)
from service.scoring.schemas import PriorityName

RESPONSES = {
    **ERROR_RESPONSES,
    403: {"model": ErrorResponse, "description": "The item is not held by this agent."},
    404: {"model": ErrorResponse, "description": "No such item or ticket."},
    409: {"model": ErrorResponse, "description": "Another agent holds the item, or it is resolved."},
}
router = APIRouter(prefix="/v1", tags=["queue"], responses=RESPONSES)
ItemId = Annotated[int, Path(ge=1, le=2**62)]


@router.get("/queue", response_model=QueuePage)
def list_queue(
    session: SessionDep,
    status: Status | None = "open",
    dimension: DimensionName | None = None,
    language: Annotated[str | None, Query(pattern=r"^[a-z]{2,3}$")] = None,
    priority: PriorityName | None = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> QueuePage:
    """Items in priority order, then oldest first (default: the open ones)."""
    return service.list_queue(
        session=session,
        status=status,
        dimension=dimension,
        language=language,
        priority=priority,
        cursor=cursor,
        limit=limit,
    )


@router.get("/queue/{item_id}", response_model=QueueItemOut)
def get_item(session: SessionDep, item_id: ItemId) -> QueueItemOut:
    """One item, with its ticket's text, scores and reasons."""
    return service.get_item(session=session, item_id=item_id)


@router.post("/queue/{item_id}/claim", response_model=QueueItemOut)
def claim(session: SessionDep, item_id: ItemId, body: ClaimRequest) -> QueueItemOut:
    """Take the item under a lease; 409 while another agent's lease holds."""
    return service.claim(session=session, item_id=item_id, agent=body.agent, lease_seconds=body.lease_seconds)


@router.post("/queue/{item_id}/release", response_model=QueueItemOut)
def release(session: SessionDep, item_id: ItemId, body: AgentRequest) -> QueueItemOut:
    """Give a held item back; 403 for an agent who does not hold it."""
    return service.release(session=session, item_id=item_id, agent=body.agent)


@router.post("/queue/{item_id}/resolve", response_model=QueueItemOut)
def resolve(session: SessionDep, item_id: ItemId, body: ResolveRequest) -> QueueItemOut:
    """Close a held item: resolved, escalated or not_needed."""
    return service.resolve(session=session, item_id=item_id, agent=body.agent, outcome=body.outcome)


@router.post("/queue/{item_id}/feedback", response_model=FeedbackOut, status_code=201)
def feedback(session: SessionDep, item_id: ItemId, body: FeedbackRequest) -> FeedbackOut:
    """Was the flag right; per-dimension corrections; a note."""
    return service.item_feedback(session=session, item_id=item_id, body=body)


@router.post("/feedback", response_model=FeedbackOut, status_code=201)
def missed_case(session: SessionDep, body: MissedCaseRequest) -> FeedbackOut:
    """Report a stored ticket that automation kept but that needed a person."""
    return service.missed_case(session=session, body=body)
