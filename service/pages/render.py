"""What the templates need beyond the queue's own data: highlighted text, waiting times, badges.

Highlighting works on the reasons' character spans (``text[start:end]``), never by searching the
text for the phrase, so a phrase is marked where the model found it and nowhere else. Jinja2
escapes every piece, so a ticket's text cannot inject markup into the page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from service.queue.schemas import QueueItemOut
from service.scoring.schemas import Reason

DIMENSIONS = ("emotional", "complex", "nuanced")


@dataclass(frozen=True)
class Segment:
    text: str
    dimension: str | None  # the reason's dimension for a marked phrase; None for plain text


def highlight(text: str, reasons: list[Reason], field: str = "text") -> list[Segment]:
    """``text`` cut into plain and marked pieces; overlapping phrases keep the one that starts first."""
    spans = sorted(
        (r.start, r.end, r.dimension or "needs_human")
        for r in reasons
        if r.field == field and r.start is not None and r.end is not None and 0 <= r.start < r.end
    )
    segments: list[Segment] = []
    at = 0
    for start, end, dimension in spans:
        if start < at or end > len(text):
            continue
        if start > at:
            segments.append(Segment(text[at:start], None))
        segments.append(Segment(text[start:end], dimension))
        at = end
    if at < len(text):
        segments.append(Segment(text[at:], None))
    return segments


def waiting(seconds: float) -> str:
    """A waiting time as an agent reads it: "45 s", "12 min", "3 h 5 min", "2 d 4 h"."""
    s = int(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


@dataclass(frozen=True)
class Badge:
    dimension: str
    percent: int
    flagged: bool  # the dimension has a phrase among the reasons, or is the item's top dimension


def badges(item: QueueItemOut) -> list[Badge]:
    """One badge per dimension, strongest first."""
    if item.dimensions is None:
        return []
    scores = item.dimensions.model_dump()
    with_reasons = {r.dimension for r in item.reasons}
    return sorted(
        (Badge(d, round(100 * scores[d]), d == item.top_dimension or d in with_reasons) for d in DIMENSIONS),
        key=lambda b: -b.percent,
    )


def held_by(item: QueueItemOut, now: datetime) -> str | None:
    """Who holds the item under a live lease (None when nobody does)."""
    if item.status != "claimed" or item.lease_expires_at is None or item.lease_expires_at <= now:
        return None
    return item.claimed_by
