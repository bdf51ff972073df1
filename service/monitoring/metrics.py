"""The drift report as Prometheus gauges (each worker computes the same figures from the database).

With several workers (Prometheus's multiprocess mode, see ``service.observability``) each gauge
shows the value written last, by whichever worker: they all read the same database.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from prometheus_client import Gauge
from starlette.concurrency import run_in_threadpool

from service.lifecycle import pause
from service.monitoring.service import DriftReport

TICKETS = Gauge(
    "triage_drift_window_tickets", "Tickets scored in the drift window.", multiprocess_mode="mostrecent"
)
HUMAN_SHARE = Gauge(
    "triage_drift_human_share",
    "Share of the window's tickets routed to a person.",
    multiprocess_mode="mostrecent",
)
TARGET_SHARE = Gauge(
    "triage_drift_human_share_target",
    "The share the serving model was set for.",
    multiprocess_mode="mostrecent",
)
UNSUPPORTED = Gauge(
    "triage_drift_unsupported_language_share",
    "Share of tickets in unscored languages.",
    multiprocess_mode="mostrecent",
)
LANGUAGE = Gauge(
    "triage_drift_language_share",
    "Share of the window's tickets by language.",
    ["language"],
    multiprocess_mode="mostrecent",
)
PSI = Gauge(
    "triage_drift_psi",
    "Population stability index of live scores against the training reference.",
    ["dimension"],
    multiprocess_mode="mostrecent",
)
_published_languages: set[str] = set()
WARNINGS = Gauge(
    "triage_drift_warnings", "Drift warnings raised (0 when all is well).", multiprocess_mode="mostrecent"
)


def publish(report: DriftReport) -> None:
    TICKETS.set(report.tickets)
    for gauge, value in (
        (HUMAN_SHARE, report.human_share),
        (TARGET_SHARE, report.target_human_share),
        (UNSUPPORTED, report.unsupported_share),
    ):
        gauge.set(float("nan") if value is None else value)
    # Zeroed rather than cleared: in multiprocess mode a cleared series would keep its last value.
    for language in _published_languages - report.languages.keys():
        LANGUAGE.labels(language=language).set(0)
    for language, share in report.languages.items():
        LANGUAGE.labels(language=language).set(share)
    _published_languages.update(report.languages)
    for head, value in report.psi.items():
        PSI.labels(dimension=head).set(float("nan") if value is None else value)
    WARNINGS.set(len(report.warnings))


async def watch_drift(
    *, measure: Callable[[], DriftReport], every_seconds: float, log: Any, stop: asyncio.Event
) -> None:
    """Measure now and then every ``every_seconds``; log each new warning once."""
    said: set[str] = set()
    while not stop.is_set():
        try:
            report = await run_in_threadpool(measure)
            publish(report)
            for warning in report.warnings:
                if warning not in said:
                    log.warning("drift", warning=warning)
            said = set(report.warnings)
        except Exception as exc:
            log.error("drift measurement failed", error_type=type(exc).__name__)
        await pause(stop, every_seconds)
