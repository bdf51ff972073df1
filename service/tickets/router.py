"""``GET /v1/tickets/{ticket_id}``: a stored ticket and its history; ``DELETE``: erase its text."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from service.deps import SessionDep, require
from service.errors import ERROR_RESPONSES, ErrorResponse, NotFoundError
from service.tickets import repository
from service.tickets.retention import erase_ticket
from service.tickets.schemas import ScoreEventOut, StoredTicket, dimensions_of
from service.tickets.service import DEFAULT_SOURCE

router = APIRouter(
    prefix="/v1/tickets",
    tags=["tickets"],
    responses={**ERROR_RESPONSES, 404: {"model": ErrorResponse, "description": "No such ticket."}},
)


# ":path" in the routes: helpdesk ids may hold a "/" (sent encoded as %2F, decoded before routing).
TicketId = Annotated[str, Path(min_length=1, max_length=256)]
Source = Annotated[str, Query(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]


@router.get("/{ticket_id:path}", response_model=StoredTicket, dependencies=[require("helpdesk", "agent")])
def get_ticket(session: SessionDep, ticket_id: TicketId, source: Source = DEFAULT_SOURCE) -> StoredTicket:
    """The stored ticket (text subject to retention), its latest scores and every earlier scoring."""
    row = repository.get_ticket(session, source=source, external_id=ticket_id)
    if row is None:
        raise NotFoundError(f"no ticket {ticket_id!r} from source {source!r}")
    history = [
        ScoreEventOut(
            scored_at=e.scored_at,
            route=e.route,  # type: ignore[arg-type]
            priority=e.priority,  # type: ignore[arg-type]
            needs_human=e.needs_human,
            dimensions=dimensions_of(e),
            rules=e.rules,
            model_version=e.model_version,
            policy_version=e.policy_version,
        )
        for e in repository.score_history(session, row.id)
    ]
    return StoredTicket(
        id=row.external_id,
        source=row.source,
        text=row.text,
        subject=row.subject,
        channel=row.channel,
        customer_id=row.customer_id,
        language=row.language,
        language_supported=row.language_supported,
        route=row.route,  # type: ignore[arg-type]
        priority=row.priority,  # type: ignore[arg-type]
        needs_human=row.needs_human,
        dimensions=dimensions_of(row),
        threshold=row.threshold,
        reasons=row.reasons,  # type: ignore[arg-type]
        rules=row.rules,
        model_version=row.model_version,
        policy_version=row.policy_version,
        times_scored=row.times_scored,
        first_seen_at=row.first_seen_at,
        scored_at=row.scored_at,
        text_purged_at=row.text_purged_at,
        history=history,
    )


@router.delete("/{ticket_id:path}", status_code=204, response_class=Response, dependencies=[require()])
def erase(session: SessionDep, ticket_id: TicketId, source: Source = DEFAULT_SOURCE) -> Response:
    """Erase a ticket's text, subject, quoted phrases and feedback notes (GDPR); scores stay."""
    row = repository.get_ticket(session, source=source, external_id=ticket_id)
    if row is None:
        raise NotFoundError(f"no ticket {ticket_id!r} from source {source!r}")
    erase_ticket(session=session, ticket=row)
    return Response(status_code=204)
