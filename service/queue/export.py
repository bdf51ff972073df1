"""Agent feedback and missed cases as training rows, in the format ``triage train --data`` reads.

needs_human is the verdict (an agent's ``flag_correct`` on a flagged ticket: did it need a
person; 1 for a missed case); a dimension is the agent's correction where one was given and blank otherwise, since the
training data format reads blank as unknown. A later verdict on the same ticket wins. Tickets
whose text retention or an erasure removed cannot train and are counted, not written.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from service.queue import repository

COLUMNS = ("id", "source", "text", "subject", "language", "emotional", "complex", "nuanced", "needs_human")


@dataclass(frozen=True)
class ExportResult:
    written: int
    without_text: int


def feedback_rows(session: Session) -> tuple[list[dict[str, Any]], int]:
    latest: dict[int, dict[str, Any]] = {}
    without_text: set[int] = set()
    for feedback, ticket in repository.feedback_with_tickets(session):
        if ticket.text is None:
            without_text.add(ticket.id)
            continue
        # A missed case needed a person; an agent's verdict says itself whether the ticket did
        # (not how it was routed when exported: a later scoring may have routed it elsewhere).
        needs_human = 1 if feedback.kind == "missed" else int(bool(feedback.flag_correct))
        row = latest.setdefault(
            ticket.id,
            {
                "id": ticket.external_id,
                "source": ticket.source,
                "text": ticket.text,
                "subject": ticket.subject or "",
                "language": ticket.language,
                "emotional": "",
                "complex": "",
                "nuanced": "",
            },
        )
        row["needs_human"] = needs_human
        for dim, value in feedback.corrections.items():
            row[dim] = value
    return list(latest.values()), len(without_text - set(latest))


def export_feedback(*, session: Session, path: Path) -> ExportResult:
    """Write the rows to ``path`` as CSV; returns how many were written and skipped."""
    rows, without_text = feedback_rows(session)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return ExportResult(written=len(rows), without_text=without_text)
