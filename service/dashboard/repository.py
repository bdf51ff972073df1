"""Every query of outcomes and of the dashboard's period figures."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.storage.tables import Feedback, Outcome, QueueItem, TicketRecord


def add_outcome(session: Session, **values: Any) -> Outcome:
    outcome = Outcome(**values)
    session.add(outcome)
    return outcome


def arrivals(session: Session, start: datetime, end: datetime) -> list[tuple[datetime, str]]:
    """(first seen, route) of the tickets that arrived in the period."""
    rows = session.execute(
        select(TicketRecord.first_seen_at, TicketRecord.route).where(
            TicketRecord.first_seen_at >= start, TicketRecord.first_seen_at < end
        )
    )
    return [(r[0], r[1]) for r in rows]


def queue_times(
    session: Session, start: datetime, end: datetime
) -> list[tuple[datetime, datetime | None, datetime | None]]:
    rows = session.execute(
        select(QueueItem.created_at, QueueItem.claimed_at, QueueItem.resolved_at).where(
            QueueItem.created_at >= start, QueueItem.created_at < end
        )
    )
    return [(r[0], r[1], r[2]) for r in rows]


def verdicts(session: Session, start: datetime, end: datetime) -> list[tuple[str, bool | None]]:
    rows = session.execute(
        select(Feedback.kind, Feedback.flag_correct).where(
            Feedback.created_at >= start, Feedback.created_at < end
        )
    )
    return [(r[0], r[1]) for r in rows]


def outcomes(
    session: Session, start: datetime, end: datetime
) -> list[tuple[int, int | None, bool | None, str, str, str | None]]:
    """(ticket, csat, reopened, route, language, dimension) of the outcomes reported in the period,
    oldest first (a later report on the same ticket overrides)."""
    rows = session.execute(
        select(
            Outcome.ticket_id,
            Outcome.csat,
            Outcome.reopened,
            TicketRecord.route,
            TicketRecord.language,
            QueueItem.top_dimension,
            TicketRecord.emotional,
            TicketRecord.complex,
            TicketRecord.nuanced,
        )
        .join(TicketRecord, TicketRecord.id == Outcome.ticket_id)
        .outerjoin(QueueItem, QueueItem.ticket_id == Outcome.ticket_id)
        .where(Outcome.reported_at >= start, Outcome.reported_at < end)
        .order_by(Outcome.id)
    )
    out = []
    for ticket, csat, reopened, route, language, queued, *scores in rows:
        # A flagged ticket's dimension is its queue item's; an automated one's, its strongest score,
        # so that both routes can be compared within a dimension.
        known = [float(v) for v in scores if v is not None]
        strongest = None
        if len(known) == 3:
            strongest = ("emotional", "complex", "nuanced")[known.index(max(known))]
        out.append((ticket, csat, reopened, route, language, queued or strongest))
    return out
