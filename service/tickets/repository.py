"""Every query on tickets, score events and idempotency keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from service.storage.tables import IdempotencyRecord, ScoreEvent, TicketRecord

SCORE_COLUMNS = (
    "route",
    "priority",
    "needs_human",
    "emotional",
    "complex",
    "nuanced",
    "rules",
    "model_version",
    "policy_version",
)


def upsert_ticket(session: Session, values: dict[str, Any]) -> int:
    """Insert the ticket or update the stored one with the same (source, external_id); returns its id.

    One statement (INSERT ... ON CONFLICT DO UPDATE), so two workers storing the same ticket at
    once still leave one row.
    """
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = insert(TicketRecord).values(**values, times_scored=1, first_seen_at=values["scored_at"])
    updated: dict[str, Any] = {k: stmt.excluded[k] for k in values if k not in ("source", "external_id")}
    updated["times_scored"] = TicketRecord.times_scored + 1
    updated["text_purged_at"] = None
    upsert = stmt.on_conflict_do_update(index_elements=["source", "external_id"], set_=updated)
    return int(session.execute(upsert.returning(TicketRecord.id)).scalar_one())


def add_score_event(session: Session, ticket_id: int, values: dict[str, Any]) -> None:
    session.add(ScoreEvent(ticket_id=ticket_id, **{k: values[k] for k in (*SCORE_COLUMNS, "scored_at")}))


def get_ticket(session: Session, *, source: str, external_id: str) -> TicketRecord | None:
    return session.scalars(
        select(TicketRecord).where(TicketRecord.source == source, TicketRecord.external_id == external_id)
    ).one_or_none()


def score_history(session: Session, ticket_id: int) -> list[ScoreEvent]:
    return list(
        session.scalars(select(ScoreEvent).where(ScoreEvent.ticket_id == ticket_id).order_by(ScoreEvent.id))
    )


def get_idempotency(session: Session, key: str) -> IdempotencyRecord | None:
    return session.get(IdempotencyRecord, key)


def add_idempotency(
    session: Session, *, key: str, request_sha256: str, status_code: int, body: str, now: datetime
) -> None:
    session.add(
        IdempotencyRecord(
            key=key,
            request_sha256=request_sha256,
            status_code=status_code,
            response_body=body,
            created_at=now,
        )
    )
