"""``/v1/queue``: list, get, claim, release, resolve and feedback; ``POST /v1/feedback`` for misses.

With keys (``TRIAGE_AUTH=required``) the agent is the key's name; in the open mode an agent names
itself in the body. Holding an item is checked against that name.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from service.access.service import Principal
from service.deps import PrincipalDep, SessionDep, require
from service.errors import ERROR_RESPONSES, AgentRequiredError, ErrorResponse, NotHolderError
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
AGENT = [require("agent")]


def agent_name(principal: Principal, named: str | None) -> str:
    """With keys, the key's name (a body naming someone else is a 403); in the open mode, the body's."""
    if principal.authenticated:
        if named is not None and named != principal.name:
            raise NotHolderError(f"this key acts as {principal.name!r}, not {named!r}")
        return principal.name
    if named is None:
        raise AgentRequiredError('name the agent in the body ({"agent": "..."}) in the open mode')
    return named


@router.get("/queue", response_model=QueuePage, dependencies=AGENT)
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


@router.get("/queue/{item_id}", response_model=QueueItemOut, dependencies=AGENT)
def get_item(session: SessionDep, item_id: ItemId) -> QueueItemOut:
    """One item, with its ticket's text, scores and reasons."""
    return service.get_item(session=session, item_id=item_id)


@router.post("/queue/{item_id}/claim", response_model=QueueItemOut, dependencies=AGENT)
def claim(session: SessionDep, principal: PrincipalDep, item_id: ItemId, body: ClaimRequest) -> QueueItemOut:
    """Take the item under a lease; 409 while another agent's lease holds."""
    agent = agent_name(principal, body.agent)
    return service.claim(session=session, item_id=item_id, agent=agent, lease_seconds=body.lease_seconds)


@router.post("/queue/{item_id}/release", response_model=QueueItemOut, dependencies=AGENT)
def release(
    session: SessionDep, principal: PrincipalDep, item_id: ItemId, body: AgentRequest
) -> QueueItemOut:
    """Give a held item back; 403 for an agent who does not hold it."""
    return service.release(session=session, item_id=item_id, agent=agent_name(principal, body.agent))


@router.post("/queue/{item_id}/resolve", response_model=QueueItemOut, dependencies=AGENT)
def resolve(
    session: SessionDep, principal: PrincipalDep, item_id: ItemId, body: ResolveRequest
) -> QueueItemOut:
    """Close a held item: resolved, escalated or not_needed."""
    agent = agent_name(principal, body.agent)
    return service.resolve(session=session, item_id=item_id, agent=agent, outcome=body.outcome)


@router.post("/queue/{item_id}/feedback", response_model=FeedbackOut, status_code=201, dependencies=AGENT)
def feedback(
    session: SessionDep, principal: PrincipalDep, item_id: ItemId, body: FeedbackRequest
) -> FeedbackOut:
    """Was the flag right; per-dimension corrections; a note."""
    agent = agent_name(principal, body.agent)
    return service.item_feedback(session=session, item_id=item_id, body=body, agent=agent)


@router.post("/feedback", response_model=FeedbackOut, status_code=201, dependencies=[require("helpdesk")])
def missed_case(session: SessionDep, principal: PrincipalDep, body: MissedCaseRequest) -> FeedbackOut:
    """Report a stored ticket that automation kept but that needed a person."""
    reporter = principal.name if principal.authenticated else body.reporter
    return service.missed_case(session=session, body=body, reporter=reporter)
