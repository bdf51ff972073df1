"""Outcomes in, and the connection dashboard's figures for a period.

The period's figures: the share of arriving tickets sent to a person (per day too); for the
flagged ones, the time from arrival to claim and to resolution; how often agents agreed with the
flags (precision); the missed cases helpdesks reported, and the recall proxy they give; and the
outcomes (CSAT, reopened) of tickets sent to a person against those automation kept, per
language and per dimension (a flagged ticket's queue dimension; an automated one's strongest).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

import numpy as np
from sqlalchemy.orm import Session

from service.dashboard import repository
from service.dashboard.schemas import Dashboard, DayShare, OutcomeGroup, OutcomeOut, OutcomeRequest, Timing
from service.errors import NotFoundError
from service.storage.database import aware
from service.tickets import repository as tickets


def _aware(moment: datetime) -> datetime:
    return aware(moment) or moment


def record_outcome(*, session: Session, body: OutcomeRequest) -> OutcomeOut:
    """Store what became of a stored ticket (404 for a ticket never scored)."""
    ticket = tickets.get_ticket(session, source=body.source, external_id=body.id)
    if ticket is None:
        raise NotFoundError(f"no ticket {body.id!r} from source {body.source!r}")
    outcome = repository.add_outcome(
        session, ticket_id=ticket.id, csat=body.csat, reopened=body.reopened, reported_at=datetime.now(UTC)
    )
    session.commit()
    return OutcomeOut(
        ticket_id=ticket.external_id,
        source=ticket.source,
        csat=outcome.csat,
        reopened=outcome.reopened,
        reported_at=_aware(outcome.reported_at),
    )


def _timing(minutes: list[float]) -> Timing:
    if not minutes:
        return Timing(count=0, median_minutes=None, p90_minutes=None)
    values = np.asarray(minutes)
    return Timing(
        count=len(minutes),
        median_minutes=round(float(np.median(values)), 1),
        p90_minutes=round(float(np.percentile(values, 90)), 1),
    )


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def build_dashboard(*, session: Session, start: datetime, end: datetime) -> Dashboard:
    """Every figure of the dashboard for ``start`` <= time < ``end``."""
    arrived = repository.arrivals(session, start, end)
    per_day: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for seen, route in arrived:
        day = per_day[_aware(seen).date().isoformat()]
        day[0] += 1
        day[1] += route == "human"
    human = sum(route == "human" for _, route in arrived)
    to_claim, to_resolution = [], []
    for created, claimed, resolved in repository.queue_times(session, start, end):
        if claimed is not None:
            to_claim.append((_aware(claimed) - _aware(created)).total_seconds() / 60)
        if resolved is not None:
            to_resolution.append((_aware(resolved) - _aware(created)).total_seconds() / 60)
    given = repository.verdicts(session, start, end)
    agent = [flag for kind, flag in given if kind == "agent"]
    confirmed = sum(bool(flag) for flag in agent)
    missed = sum(kind == "missed" for kind, _ in given)
    latest: dict[int, tuple[int | None, bool | None, str, str, str | None]] = {}
    for ticket_id, csat, reopened, route, language, dimension in repository.outcomes(session, start, end):
        before = latest.get(ticket_id)
        # A later report fills in what it says and keeps what it does not.
        latest[ticket_id] = (
            csat if csat is not None else (before[0] if before else None),
            reopened if reopened is not None else (before[1] if before else None),
            route,
            language,
            dimension,
        )
    groups: dict[tuple[str, str], list[tuple[int | None, bool | None]]] = defaultdict(list)
    for csat, reopened, route, language, dimension in latest.values():
        for group in (
            "all",
            f"language:{language}",
            *([f"dimension:{dimension}"] if dimension else []),
        ):
            groups[(route, group)].append((csat, reopened))
    outcome_groups = []
    for (route, group), values in sorted(groups.items()):
        scores = [c for c, _ in values if c is not None]
        reopens = [r for _, r in values if r is not None]
        outcome_groups.append(
            OutcomeGroup(
                route=route,
                group=group,
                tickets=len(values),
                csat_mean=round(float(np.mean(scores)), 2) if scores else None,
                csat_count=len(scores),
                reopen_rate=_share(sum(reopens), len(reopens)),
                reopen_count=len(reopens),
            )
        )
    return Dashboard(
        start=start,
        end=end,
        tickets=len(arrived),
        human=human,
        human_share=_share(human, len(arrived)),
        days=[DayShare(day=d, tickets=v[0], human=v[1]) for d, v in sorted(per_day.items())],  # type: ignore[arg-type]
        to_claim=_timing(to_claim),
        to_resolution=_timing(to_resolution),
        verdicts=len(agent),
        flags_confirmed=confirmed,
        precision=_share(confirmed, len(agent)),
        missed=missed,
        recall_proxy=_share(confirmed, confirmed + missed),
        outcomes=outcome_groups,
    )
