"""Queue operations: keyword-only functions, each one transaction, each refusal an error with its status."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from service.errors import ConflictError, InvalidCursorError, NotFoundError, NotHolderError
from service.queue import repository
from service.queue.schemas import FeedbackOut, FeedbackRequest, MissedCaseRequest, QueueItemOut, QueuePage
from service.storage.database import aware
from service.storage.tables import Feedback, QueueItem, TicketRecord
from service.tickets import repository as tickets
from service.tickets.redaction import redact_note
from service.tickets.schemas import dimensions_of


def item_out(item: QueueItem, ticket: TicketRecord, now: datetime) -> QueueItemOut:
    created = aware(item.created_at) or now
    end = aware(item.resolved_at) or now
    return QueueItemOut(
        id=item.id,
        ticket_id=ticket.external_id,
        source=ticket.source,
        status=item.status,  # type: ignore[arg-type]
        priority=item.priority,  # type: ignore[arg-type]
        language=item.language,
        top_dimension=item.top_dimension,  # type: ignore[arg-type]
        dimensions=dimensions_of(ticket),
        needs_human=ticket.needs_human,
        text=ticket.text,
        subject=ticket.subject,
        reasons=ticket.reasons,  # type: ignore[arg-type]
        rules=ticket.rules,
        created_at=created,
        waiting_seconds=round(max((end - created).total_seconds(), 0.0), 3),
        claimed_by=item.claimed_by,
        lease_expires_at=aware(item.lease_expires_at),
        resolved_at=aware(item.resolved_at),
        outcome=item.outcome,  # type: ignore[arg-type]
    )


def encode_cursor(item: QueueItem) -> str:
    raw = json.dumps([item.priority_rank, item.id])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, int]:
    try:
        rank, item_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return int(rank), int(item_id)
    except (ValueError, TypeError) as exc:
        raise InvalidCursorError("the cursor is not one this service issued") from exc


def list_queue(
    *,
    session: Session,
    status: str | None,
    dimension: str | None,
    language: str | None,
    priority: str | None,
    cursor: str | None,
    limit: int,
) -> QueuePage:
    """One page of items in priority order, then oldest first."""
    after = decode_cursor(cursor) if cursor else None
    rows = repository.list_items(
        session,
        status=status,
        dimension=dimension,
        language=language,
        priority=priority,
        after=after,
        limit=limit + 1,
        now=datetime.now(UTC),
    )
    now = datetime.now(UTC)
    page = rows[:limit]
    next_cursor = encode_cursor(page[-1][0]) if len(rows) > limit else None
    return QueuePage(items=[item_out(i, t, now) for i, t in page], next_cursor=next_cursor)


def _load(session: Session, item_id: int) -> tuple[QueueItem, TicketRecord]:
    found = repository.get_item(session, item_id)
    if found is None:
        raise NotFoundError(f"no queue item {item_id}")
    return found


def get_item(*, session: Session, item_id: int) -> QueueItemOut:
    """One item with its ticket."""
    item, ticket = _load(session, item_id)
    return item_out(item, ticket, datetime.now(UTC))


def claim(*, session: Session, item_id: int, agent: str, lease_seconds: int) -> QueueItemOut:
    """Take the item under a lease; 409 while another agent's lease holds."""
    _load(session, item_id)
    now = datetime.now(UTC)
    won = repository.try_claim(
        session, item_id=item_id, agent=agent, now=now, until=now + timedelta(seconds=lease_seconds)
    )
    session.commit()
    item, ticket = _load(session, item_id)
    if not won:
        if item.status == "resolved":
            raise ConflictError(f"queue item {item_id} is resolved")
        raise ConflictError(
            f"queue item {item_id} is claimed by another agent until {aware(item.lease_expires_at)}"
        )
    return item_out(item, ticket, now)


def _change_held(
    session: Session,
    item_id: int,
    agent: str,
    feedback: FeedbackRequest | None = None,
    **values: object,
) -> QueueItemOut:
    _, ticket = _load(session, item_id)
    now = datetime.now(UTC)
    changed = repository.update_held(session, item_id=item_id, agent=agent, now=now, **values)
    if changed and feedback is not None:
        _add_feedback(
            session, ticket, kind="agent", flag_correct=feedback.flag_correct, body=feedback, author=agent
        )
    session.commit()
    if not changed:
        raise NotHolderError(f"queue item {item_id} is not held by {agent!r}: claim it first")
    item, ticket = _load(session, item_id)
    session.refresh(item)
    return item_out(item, ticket, now)


def release(*, session: Session, item_id: int, agent: str) -> QueueItemOut:
    """Give a held item back to the open queue."""
    return _change_held(
        session, item_id, agent, status="open", claimed_by=None, claimed_at=None, lease_expires_at=None
    )


def resolve(
    *, session: Session, item_id: int, agent: str, outcome: str, feedback: FeedbackRequest | None = None
) -> QueueItemOut:
    """Close a held item with its outcome, and the agent's feedback in the same commit when given."""
    now = datetime.now(UTC)
    return _change_held(
        session,
        item_id,
        agent,
        feedback,
        status="resolved",
        outcome=outcome,
        resolved_at=now,
        lease_expires_at=None,
    )


def _feedback_out(feedback: Feedback, ticket: TicketRecord) -> FeedbackOut:
    return FeedbackOut(
        id=feedback.id,
        ticket_id=ticket.external_id,
        kind=feedback.kind,  # type: ignore[arg-type]
        flag_correct=feedback.flag_correct,
        corrections=feedback.corrections,
        note=feedback.note,
        created_at=aware(feedback.created_at) or datetime.now(UTC),
    )


def _add_feedback(
    session: Session,
    ticket: TicketRecord,
    *,
    kind: str,
    flag_correct: bool,
    body: FeedbackRequest | MissedCaseRequest,
    author: str | None,
) -> Feedback:
    return repository.add_feedback(
        session,
        ticket_id=ticket.id,
        kind=kind,
        flag_correct=flag_correct,
        corrections=dict(body.corrections),
        note=redact_note(body.note),
        author=author,
        created_at=datetime.now(UTC),
    )


def _record_feedback(
    session: Session,
    ticket: TicketRecord,
    *,
    kind: str,
    flag_correct: bool,
    body: FeedbackRequest | MissedCaseRequest,
    author: str | None,
) -> FeedbackOut:
    feedback = _add_feedback(session, ticket, kind=kind, flag_correct=flag_correct, body=body, author=author)
    session.commit()
    return _feedback_out(feedback, ticket)


def feedback_of_item(*, session: Session, item_id: int) -> list[FeedbackOut]:
    """The feedback given on an item's ticket, oldest first."""
    _, ticket = _load(session, item_id)
    return [_feedback_out(f, ticket) for f in repository.feedback_of_ticket(session, ticket.id)]


def item_feedback(*, session: Session, item_id: int, body: FeedbackRequest, agent: str) -> FeedbackOut:
    """An agent's verdict on a flagged ticket: was the flag right, and per-dimension corrections."""
    _, ticket = _load(session, item_id)
    return _record_feedback(
        session, ticket, kind="agent", flag_correct=body.flag_correct, body=body, author=agent
    )


def missed_case(*, session: Session, body: MissedCaseRequest, reporter: str | None) -> FeedbackOut:
    """A helpdesk reports a stored ticket that automation kept but that needed a person."""
    ticket = tickets.get_ticket(session, source=body.source, external_id=body.id)
    if ticket is None:
        raise NotFoundError(f"no ticket {body.id!r} from source {body.source!r}")
    # The routing was right only if it went to a person.
    return _record_feedback(
        session, ticket, kind="missed", flag_correct=ticket.route == "human", body=body, author=reporter
    )
