"""The drift report: what ``/metrics`` and the ops page show, with the warnings it raises.

Over the tickets scored in the last ``TRIAGE_DRIFT_WINDOW_HOURS``: the share routed to a person
against the model's target share; each head's score distribution against the bundle's reference
(PSI); the language mix and the share of tickets in languages the model does not score. With
fewer than ``TRIAGE_DRIFT_MIN_TICKETS`` tickets in the window it reports the counts and warns of
nothing, since a small sample is noise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from service.model.drift import psi
from service.monitoring import repository


@dataclass(frozen=True)
class DriftLimits:
    window_hours: float
    min_tickets: int
    max_psi: float
    human_share_tolerance: float
    max_unsupported_share: float


@dataclass(frozen=True)
class DriftReport:
    since: datetime
    tickets: int
    human_share: float | None
    target_human_share: float | None
    unsupported_share: float | None
    languages: dict[str, float]
    psi: dict[str, float | None]
    warnings: list[str] = field(default_factory=list)


def target_share(metadata: dict[str, Any]) -> float | None:
    """The share of tickets the model was set to send to a person (its recipe's target)."""
    recipe = metadata.get("recipe") or {}
    value = recipe.get("target_share") or recipe.get("assumed_prevalence")
    return float(value) if value is not None else None


def drift_report(*, session: Session, metadata: dict[str, Any], limits: DriftLimits) -> DriftReport:
    """Measure the window against the serving model's reference and target."""
    since = datetime.now(UTC) - timedelta(hours=limits.window_hours)
    counts = repository.window_counts(session, since)
    n = counts["tickets"]
    reference = metadata.get("score_reference") or {}
    live: dict[str, float | None] = {}
    for head, bins in counts["bins"].items():
        total = sum(bins)
        live[head] = psi(reference[head], [b / total for b in bins]) if head in reference and total else None
    target = target_share(metadata)
    human = round(counts["human"] / n, 4) if n else None
    unsupported = round(counts["unsupported"] / n, 4) if n else None
    warnings: list[str] = []
    if n >= limits.min_tickets:
        if human is not None and target is not None and abs(human - target) > limits.human_share_tolerance:
            warnings.append(f"{human:.1%} of tickets go to a person; the model was set for {target:.0%}")
        for head, value in live.items():
            if value is not None and value > limits.max_psi:
                warnings.append(
                    f"{head} scores have shifted from the training distribution (PSI {value:.2f})"
                )
        if unsupported is not None and unsupported > limits.max_unsupported_share:
            warnings.append(f"{unsupported:.1%} of tickets are in languages the model does not score")
        if not reference:
            warnings.append("the serving model records no score reference: retrain it to measure drift")
    return DriftReport(
        since=since,
        tickets=n,
        human_share=human,
        target_human_share=target,
        unsupported_share=unsupported,
        languages={lang: round(c / n, 4) for lang, c in sorted(counts["languages"].items())} if n else {},
        psi=live,
        warnings=warnings,
    )
