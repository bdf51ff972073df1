"""The aggregate queries drift monitoring runs over recently scored tickets."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from service.model.drift import BINS
from service.storage.tables import TicketRecord

HEAD_COLUMNS = {
    "emotional": TicketRecord.emotional,
    "complex": TicketRecord.complex,
    "nuanced": TicketRecord.nuanced,
    "needs_human": TicketRecord.needs_human,
}


def _bin_counts(column: Any) -> list[Any]:
    # One SUM(CASE) per bin: portable across SQLite and PostgreSQL, and one pass over the rows.
    out = []
    for i in range(BINS):
        low, high = i / BINS, (i + 1) / BINS
        inside = (column >= low) & (column < high) if i < BINS - 1 else (column >= low)
        out.append(func.sum(case((inside, 1), else_=0)))
    return out


def window_counts(session: Session, since: datetime) -> dict[str, Any]:
    """Counts over the tickets last scored at or after ``since``."""
    recent = TicketRecord.scored_at >= since
    columns = [
        func.count(),
        func.sum(case((TicketRecord.route == "human", 1), else_=0)),
        func.sum(case((TicketRecord.language_supported.is_(False), 1), else_=0)),
    ]
    for column in HEAD_COLUMNS.values():
        columns.extend(_bin_counts(column))
    row = session.execute(select(*columns).where(recent)).one()
    values = [int(v or 0) for v in row]
    bins = {head: values[3 + i * BINS : 3 + (i + 1) * BINS] for i, head in enumerate(HEAD_COLUMNS)}
    languages = {
        str(language): int(count)
        for language, count in session.execute(
            select(TicketRecord.language, func.count()).where(recent).group_by(TicketRecord.language)
        )
    }
    return {
        "tickets": values[0],
        "human": values[1],
        "unsupported": values[2],
        "bins": bins,
        "languages": languages,
    }
