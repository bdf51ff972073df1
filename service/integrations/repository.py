"""Every query on the webhook inbox and the deliveries.

Claims are one UPDATE over the rows a subquery picks: on PostgreSQL the subquery takes them
``FOR UPDATE SKIP LOCKED``, so workers and replicas claiming together each get other rows; on
SQLite the statement holds the database's write lock from start to end, which serialises them.
A claim is a lease (``claimed_until``): a worker that dies mid-way leaves rows that any worker
claims again once the lease has run out.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Insert, and_, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from service.storage.tables import Delivery, WebhookInbox
from service.tickets.repository import BulkWriter


def _insert(session: Session, table: Any) -> Any:
    """The dialect's INSERT, which has ``on_conflict_do_*``."""
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def add_to_inbox(
    session: Session,
    *,
    source: str,
    delivery_id: str,
    event: str,
    external_id: str,
    ticket: str,
    now: datetime,
) -> bool:
    """Insert a received ticket event; False when this (source, delivery id) is there already."""
    stmt: Insert = (
        _insert(session, WebhookInbox)
        .values(
            source=source,
            delivery_id=delivery_id,
            event=event,
            external_id=external_id,
            ticket=ticket,
            status="pending",
            attempts=0,
            received_at=now,
            next_attempt_at=now,
        )
        .on_conflict_do_nothing(index_elements=["source", "delivery_id"])
        .returning(WebhookInbox.id)
    )
    return session.execute(stmt).first() is not None


def fail_exhausted(session: Session, *, now: datetime, max_attempts: int) -> int:
    """Mark failed the due rows that have had all their attempts (kept, with their error)."""
    due = or_(
        WebhookInbox.status == "pending",
        and_(WebhookInbox.status == "processing", WebhookInbox.claimed_until < now),
    )
    stmt = (
        update(WebhookInbox)
        .where(due, WebhookInbox.attempts >= max_attempts)
        .values(
            status="failed",
            claimed_until=None,
            last_error=func.coalesce(WebhookInbox.last_error, "lease expired"),
        )
    )
    result = session.execute(stmt, execution_options={"synchronize_session": False})
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def claim_inbox(
    session: Session, *, now: datetime, until: datetime, limit: int, max_attempts: int
) -> list[tuple[int, str, str | None, int]]:
    """Claim up to ``limit`` due rows, oldest first: (id, source, ticket JSON, attempts so far)."""
    due = and_(
        or_(
            and_(WebhookInbox.status == "pending", WebhookInbox.next_attempt_at <= now),
            and_(WebhookInbox.status == "processing", WebhookInbox.claimed_until < now),
        ),
        WebhookInbox.attempts < max_attempts,
    )
    picked = (
        select(WebhookInbox.id)
        .where(due)
        .order_by(WebhookInbox.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    stmt = (
        update(WebhookInbox)
        .where(WebhookInbox.id.in_(picked.scalar_subquery()), due)
        .values(status="processing", claimed_until=until, attempts=WebhookInbox.attempts + 1)
        .returning(WebhookInbox.id, WebhookInbox.source, WebhookInbox.ticket, WebhookInbox.attempts)
    )
    rows = session.execute(stmt, execution_options={"synchronize_session": False}).all()
    return sorted((r[0], r[1], r[2], r[3]) for r in rows)


def _still_claimed(claimed: list[tuple[int, int]]) -> Any:
    """The rows as this worker claimed them: a claim by another worker since has counted an attempt."""
    by_attempts: dict[int, list[int]] = {}
    for row_id, attempts in claimed:
        by_attempts.setdefault(attempts, []).append(row_id)
    return and_(
        WebhookInbox.status == "processing",
        or_(*(and_(WebhookInbox.attempts == a, WebhookInbox.id.in_(ids)) for a, ids in by_attempts.items())),
    )


def finish_inbox(session: Session, *, claimed: list[tuple[int, int]], now: datetime) -> int:
    """Done: the ticket is stored, so the inbox lets go of its text. ``claimed`` is (id, attempts)
    as claimed; the number of rows still held, which the caller checks before committing."""
    if not claimed:
        return 0
    result = session.execute(
        update(WebhookInbox)
        .where(_still_claimed(claimed))
        .values(status="done", ticket=None, processed_at=now, claimed_until=None, last_error=None),
        execution_options={"synchronize_session": False},
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def retry_inbox(
    session: Session,
    *,
    row_id: int,
    failed: bool,
    next_at: datetime,
    error: str,
    attempts: int | None = None,
) -> None:
    """Put a row back for a later attempt, or mark it failed after its last one.

    With ``attempts`` (as claimed) only while this worker still holds the row: once another has
    claimed it, it is that worker's to finish or put back.
    """
    held = WebhookInbox.id == row_id
    if attempts is not None:
        held = and_(held, _still_claimed([(row_id, attempts)]))
    session.execute(
        update(WebhookInbox)
        .where(held)
        .values(
            status="failed" if failed else "pending",
            next_attempt_at=next_at,
            claimed_until=None,
            last_error=error[:256],
        ),
        execution_options={"synchronize_session": False},
    )


def purge_inbox(session: Session, *, before: datetime) -> int:
    """Forget done rows received before ``before``; clear the text of failed ones."""
    gone = session.execute(
        delete(WebhookInbox).where(WebhookInbox.status == "done", WebhookInbox.received_at < before),
        execution_options={"synchronize_session": False},
    ).rowcount  # type: ignore[attr-defined]
    session.execute(
        update(WebhookInbox)
        .where(WebhookInbox.status == "failed", WebhookInbox.received_at < before)
        .values(ticket=None),
        execution_options={"synchronize_session": False},
    )
    return int(gone or 0)


def inbox_rows(
    session: Session, *, source: str | None = None, status: str | None = None, limit: int | None = None
) -> list[WebhookInbox]:
    """Inbox rows, newest first."""
    query = select(WebhookInbox).order_by(WebhookInbox.id.desc()).limit(limit)
    if source is not None:
        query = query.where(WebhookInbox.source == source)
    if status is not None:
        query = query.where(WebhookInbox.status == status)
    return list(session.scalars(query))


def requeue_failed(session: Session, *, now: datetime, source: str | None) -> int:
    """Failed rows that still hold their ticket back to pending, with fresh attempts."""
    query = update(WebhookInbox).where(WebhookInbox.status == "failed", WebhookInbox.ticket.is_not(None))
    if source is not None:
        query = query.where(WebhookInbox.source == source)
    stmt = query.values(status="pending", attempts=0, next_attempt_at=now, claimed_until=None)
    result = session.execute(stmt, execution_options={"synchronize_session": False})
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def store_scored(session: Session, *, writer: BulkWriter, rows: list[tuple[Any, ...]], now: datetime) -> None:
    """Upsert scored tickets (``tickets.repository.ROW_COLUMNS`` rows) in the session's transaction.

    The same statements as the ticket store's writer, on the session's own connection, so that
    the tickets, the inbox rows marked done and the deliveries commit together.
    """
    cursor = session.connection().connection.cursor()
    try:
        writer.store_scored(cursor, rows, now)
    finally:
        cursor.close()


def upsert_delivery(
    session: Session, *, integration: str, external_id: str, decision: dict[str, Any], now: datetime
) -> None:
    """The ticket's latest decision, to be sent now: replaces an older one, whatever its state.

    A claim on the row is kept: the older decision may be in flight, and sent by another worker
    now the newer one could land first and be overwritten. The older send's settle lets it go.
    """
    stmt = _insert(session, Delivery).values(
        integration=integration,
        external_id=external_id,
        decision=decision,
        revision=1,
        status="pending",
        attempts=0,
        created_at=now,
        updated_at=now,
        next_attempt_at=now,
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["integration", "external_id"],
        set_={
            "decision": stmt.excluded.decision,
            "revision": Delivery.revision + 1,
            "status": "pending",
            "attempts": 0,
            "updated_at": now,
            "next_attempt_at": now,
            "dead_at": None,
            "last_status": None,
            "last_error": None,
        },
    )
    session.execute(stmt)


def claim_deliveries(
    session: Session, *, now: datetime, until: datetime, limit: int
) -> list[tuple[int, str, str, dict[str, Any], int, int]]:
    """Claim due deliveries: (id, integration, external id, decision, attempts, revision)."""
    due = and_(
        Delivery.status.in_(("pending", "retrying")),
        Delivery.next_attempt_at <= now,
        or_(Delivery.claimed_until.is_(None), Delivery.claimed_until < now),
    )
    picked = select(Delivery.id).where(due).order_by(Delivery.next_attempt_at, Delivery.id).limit(limit)
    stmt = (
        update(Delivery)
        .where(Delivery.id.in_(picked.with_for_update(skip_locked=True).scalar_subquery()), due)
        .values(claimed_until=until)
        .returning(
            Delivery.id,
            Delivery.integration,
            Delivery.external_id,
            Delivery.decision,
            Delivery.attempts,
            Delivery.revision,
        )
    )
    rows = session.execute(stmt, execution_options={"synchronize_session": False}).all()
    return sorted((r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows)


def settle_delivery(
    session: Session,
    *,
    delivery_id: int,
    revision: int,
    values: dict[str, Any],
    claimed_until: datetime | None = None,
) -> bool:
    """Record an attempt's outcome, unless a newer decision replaced this one meanwhile.

    In that case the claim this send held is released instead, so the newer decision (due since
    its upsert) goes out next, after the older one has landed. With ``claimed_until`` (the lease
    the sender claimed with) nothing happens once the row carries another lease: a pass that
    outlasted its lease must not settle, or free, another worker's send in flight.
    """
    mine = [Delivery.id == delivery_id]
    if claimed_until is not None:
        mine.append(Delivery.claimed_until == claimed_until)
    result = session.execute(
        update(Delivery).where(*mine, Delivery.revision == revision).values(claimed_until=None, **values),
        execution_options={"synchronize_session": False},
    )
    if result.rowcount:  # type: ignore[attr-defined]
        return True
    session.execute(
        update(Delivery).where(*mine).values(claimed_until=None),
        execution_options={"synchronize_session": False},
    )
    return False


def requeue_dead(session: Session, *, now: datetime, integration: str | None) -> list[int]:
    """Dead letters back to pending with their attempts reset; their ids."""
    query = update(Delivery).where(Delivery.status == "dead")
    if integration is not None:
        query = query.where(Delivery.integration == integration)
    stmt = query.values(
        status="pending", attempts=0, next_attempt_at=now, updated_at=now, dead_at=None, claimed_until=None
    ).returning(Delivery.id)
    return sorted(session.execute(stmt, execution_options={"synchronize_session": False}).scalars())


def list_deliveries(
    session: Session, *, status: str | None = None, ids: list[int] | None = None, limit: int = 100
) -> list[Delivery]:
    query = select(Delivery).order_by(Delivery.updated_at.desc(), Delivery.id.desc()).limit(limit)
    if status is not None:
        query = query.where(Delivery.status == status)
    if ids is not None:
        query = query.where(Delivery.id.in_(ids))
    return list(session.scalars(query))
