"""Every query on tickets, score events and idempotency keys."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
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


TICKET_COLUMNS = (
    "source", "external_id", "text", "subject", "channel", "customer_id", "language", "language_supported",
    "route", "priority", "needs_human", "emotional", "complex", "nuanced", "threshold", "reasons", "rules",
    "model_version", "policy_version", "scored_at",
)  # fmt: skip
_JSON_COLUMNS = ("reasons", "rules")
# Plain SQL, run as one executemany per commit: the ORM's per-row machinery cost ~150 us a ticket
# on the writer thread, which shares the GIL with the request loop. SQLite and PostgreSQL accept
# the same upsert syntax.
# S608: the names are the constants above; every value is a bound parameter.
_UPSERT = text(
    f"INSERT INTO tickets ({', '.join(TICKET_COLUMNS)}, times_scored, first_seen_at) "  # noqa: S608
    f"VALUES ({', '.join(':' + c for c in TICKET_COLUMNS)}, 1, :scored_at) "
    "ON CONFLICT (source, external_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in TICKET_COLUMNS if c not in ("source", "external_id"))
    + ", times_scored = tickets.times_scored + 1, text_purged_at = NULL"
)
_EVENT = text(
    f"INSERT INTO score_events (ticket_id, {', '.join(SCORE_COLUMNS)}, scored_at) "  # noqa: S608
    "VALUES ((SELECT id FROM tickets WHERE source = :source AND external_id = :external_id), "
    f"{', '.join(':' + c for c in SCORE_COLUMNS)}, :scored_at)"
)


_QUEUE = text(
    "INSERT INTO queue_items (ticket_id, status, priority, priority_rank, language, top_dimension, created_at) "
    "VALUES ((SELECT id FROM tickets WHERE source = :source AND external_id = :external_id), 'open', "
    ":priority, :priority_rank, :language, :top_dimension, :scored_at) "
    "ON CONFLICT (ticket_id) DO UPDATE SET priority = excluded.priority, "
    "priority_rank = excluded.priority_rank, top_dimension = excluded.top_dimension, "
    "language = excluded.language WHERE queue_items.status <> 'resolved'"
)


def store_scored(session: Session, rows: list[dict[str, Any]]) -> None:
    """Upsert the tickets by (source, external_id) and add one history event each.

    One INSERT ... ON CONFLICT DO UPDATE, so two workers storing the same ticket at once still
    leave one record. The rows must name distinct tickets (an upsert may not touch a record twice
    in one statement); the caller splits repeats into rounds.
    """
    if not rows:
        return
    params = [{**row, **{c: json.dumps(row[c]) for c in _JSON_COLUMNS}} for row in rows]
    session.execute(_UPSERT, params)
    session.execute(_EVENT, params)
    # A ticket routed to a person gets one queue item, however often it is scored again.
    human = [p for p in params if p["route"] == "human"]
    if human:
        session.execute(_QUEUE, human)


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
