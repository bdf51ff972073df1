"""Prometheus metrics of the integrations: webhooks received, inbox outcomes, deliveries, breakers.

Labels are bounded: a source is counted under its name only when it is configured (an unknown
one is ``unknown``), and integrations come from the settings.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

WEBHOOKS = Counter(
    "triage_webhooks_total",
    "Webhooks received, by source and what became of them (accepted, duplicate, ignored, refused).",
    ["source", "status"],
)
INBOX = Counter(
    "triage_inbox_rows_total", "Inbox rows processed, by outcome (stored, retry, failed).", ["outcome"]
)
DELIVERIES = Counter(
    "triage_deliveries_total",
    "Write-back attempts, by integration and outcome (delivered, retrying, dead, waiting, superseded).",
    ["integration", "outcome"],
)
# Each worker has its own breaker: with several workers, 1 when any worker's breaker is open.
BREAKER_OPEN = Gauge(
    "triage_breaker_open",
    "1 while an integration's circuit breaker is open or half-open.",
    ["integration"],
    multiprocess_mode="livemax",
)
