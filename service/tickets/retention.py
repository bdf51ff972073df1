"""Retention and erasure: ticket text is personal data and does not outlive its purpose.

After ``TRIAGE_TEXT_RETENTION_DAYS`` a ticket loses its text, its subject and the phrases quoted
in its reasons; its scores, history and feedback stay (they are what the dashboards and the
retraining need). Stored idempotent responses quote the same phrases, so they go too. An erasure
(``DELETE /v1/tickets/{id}``) does the same at once for one ticket and also clears the free-text
notes of its feedback.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from service.storage.tables import Feedback, IdempotencyRecord, TicketRecord

BATCH = 500


@dataclass(frozen=True)
class PurgeResult:
    tickets: int
    idempotency_records: int


def _without_quotes(reasons: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # The offsets go with the quote: together they would still say where the words stood.
    return [{k: v for k, v in r.items() if k not in ("text", "start", "end")} for r in reasons]


def _clear(session: Session, rows: list[TicketRecord], now: datetime) -> None:
    for row in rows:
        row.text = None
        row.subject = None
        row.reasons = _without_quotes(row.reasons)
        row.text_purged_at = now


def purge_expired(*, session: Session, retention_days: int, now: datetime | None = None) -> PurgeResult:
    """Clear the text of every ticket last scored more than ``retention_days`` ago."""
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(days=retention_days)
    purged = 0
    while True:
        rows = list(
            session.scalars(
                select(TicketRecord)
                .where(TicketRecord.scored_at < cutoff, TicketRecord.text_purged_at.is_(None))
                .limit(BATCH)
                # Locked until the commit: a scoring landing meanwhile waits, and is not wiped.
                .with_for_update()
            )
        )
        if not rows:
            break
        _clear(session, rows, now)
        session.commit()
        purged += len(rows)
    gone = session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < cutoff))
    session.commit()
    return PurgeResult(tickets=purged, idempotency_records=int(gone.rowcount))  # type: ignore[attr-defined]


def erase_ticket(*, session: Session, ticket: TicketRecord) -> None:
    """GDPR erasure of one ticket: its text, quoted phrases, feedback notes and stored responses."""
    now = datetime.now(UTC)
    _clear(session, [ticket], now)
    session.execute(update(Feedback).where(Feedback.ticket_id == ticket.id).values(note=None))
    # A stored response names the ticket by id in its JSON (as pydantic writes it: raw UTF-8); the
    # key may also cover other tickets of a batch, whose replay is then lost too: erasure wins.
    quoted = f'"id":{json.dumps(ticket.external_id, ensure_ascii=False)}'
    candidates = session.scalars(
        select(IdempotencyRecord).where(IdempotencyRecord.response_body.contains(quoted, autoescape=True))
    )
    for record in list(candidates):
        if quoted in record.response_body:  # LIKE ignores case on SQLite: check exactly
            session.delete(record)
    session.commit()
