"""Every query on queue items and feedback.

A claim is one conditional UPDATE (open, or claimed with an expired lease, or already held by the
same agent): the database decides who wins, so under any concurrency exactly one agent holds an
item, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from service.storage.tables import Feedback, QueueItem, TicketRecord


def list_items(
    session: Session,
    *,
    status: str | None,
    dimension: str | None,
    language: str | None,
    priority: str | None,
    after: tuple[int, int] | None,
    limit: int,
    now: datetime,
) -> list[tuple[QueueItem, TicketRecord]]:
    """Items in priority order, then oldest first; ``after`` is the last (rank, id) seen."""
    query = select(QueueItem, TicketRecord).join(TicketRecord, TicketRecord.id == QueueItem.ticket_id)
    if status == "open":
        # A claim whose lease ran out is open again: it must not vanish from the agents' view.
        query = query.where(
            or_(
                QueueItem.status == "open",
                and_(QueueItem.status == "claimed", QueueItem.lease_expires_at < now),
            )
        )
    elif status == "active":  # the page's default view: everything not yet resolved
        query = query.where(QueueItem.status != "resolved")
    elif status is not None:
        query = query.where(QueueItem.status == status)
    if dimension is not None:
        query = query.where(QueueItem.top_dimension == dimension)
    if language is not None:
        query = query.where(QueueItem.language == language)
    if priority is not None:
        query = query.where(QueueItem.priority == priority)
    if after is not None:
        rank, item_id = after
        query = query.where(
            or_(QueueItem.priority_rank > rank, and_(QueueItem.priority_rank == rank, QueueItem.id > item_id))
        )
    # Ids grow in arrival order, so (rank, id) is priority then age, and a cursor without ties.
    query = query.order_by(QueueItem.priority_rank, QueueItem.id).limit(limit)
    return [(row[0], row[1]) for row in session.execute(query)]


def get_item(session: Session, item_id: int) -> tuple[QueueItem, TicketRecord] | None:
    row = session.execute(
        select(QueueItem, TicketRecord)
        .join(TicketRecord, TicketRecord.id == QueueItem.ticket_id)
        .where(QueueItem.id == item_id)
    ).one_or_none()
    return None if row is None else (row[0], row[1])


def try_claim(session: Session, *, item_id: int, agent: str, now: datetime, until: datetime) -> bool:
    result = session.execute(
        update(QueueItem)
        .where(
            QueueItem.id == item_id,
            or_(
                QueueItem.status == "open",
                and_(QueueItem.status == "claimed", QueueItem.lease_expires_at < now),
                and_(QueueItem.status == "claimed", QueueItem.claimed_by == agent),
            ),
        )
        .values(status="claimed", claimed_by=agent, claimed_at=now, lease_expires_at=until)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def update_held(session: Session, *, item_id: int, agent: str, now: datetime, **values: Any) -> bool:
    """Change an item only while ``agent`` holds it under a live lease: one conditional UPDATE,
    so a lease that ran out and was taken over in between cannot be overwritten."""
    result = session.execute(
        update(QueueItem)
        .where(
            QueueItem.id == item_id,
            QueueItem.status == "claimed",
            QueueItem.claimed_by == agent,
            QueueItem.lease_expires_at >= now,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def add_feedback(session: Session, **values: Any) -> Feedback:
    feedback = Feedback(**values)
    session.add(feedback)
    return feedback


def feedback_of_ticket(session: Session, ticket_id: int) -> list[Feedback]:
    return list(
        session.scalars(select(Feedback).where(Feedback.ticket_id == ticket_id).order_by(Feedback.id))
    )


def feedback_with_tickets(session: Session) -> list[tuple[Feedback, TicketRecord]]:
    """Every feedback row with its ticket, oldest first (so that a later verdict overrides)."""
    rows = session.execute(
        select(Feedback, TicketRecord)
        .join(TicketRecord, TicketRecord.id == Feedback.ticket_id)
        .order_by(Feedback.id)
    )
    return [(row[0], row[1]) for row in rows]
