"""Writing route decisions back to the helpdesks, with retries, a circuit breaker and dead letters.

A pass claims due deliveries (a lease, like the inbox) and sends each with httpx:

- 2xx: delivered. 409 from a generic receiver: it has this delivery already (each request
  carries an ``Idempotency-Key``), so delivered too. A helpdesk's 409 (Zendesk: the ticket was
  updated meanwhile) is retried: the write-back is a PUT of state, safe to repeat.
- 429, 408, 425, 5xx, a timeout, a connection error or another httpx error (an undecodable
  body, too many redirects): retried after an exponential backoff
  with jitter (``TRIAGE_DELIVERY_BACKOFF_SECONDS`` doubled per attempt, capped), or after
  ``Retry-After`` (seconds or an HTTP date) when that is longer; after
  ``TRIAGE_DELIVERY_MAX_ATTEMPTS`` the delivery is dead: a dead letter, kept with its last
  status and error until ``triage deliveries retry`` sends it again.
- any other 4xx (a wrong token, a deleted ticket) will not get better by itself: dead at once.

Each integration has a circuit breaker per process: after ``TRIAGE_BREAKER_FAILURES`` retryable
failures in a row it opens and nothing is sent to that helpdesk for
``TRIAGE_BREAKER_COOLDOWN_SECONDS`` (deliveries wait, no attempt counted); then one delivery
is let through (half-open), and its outcome closes or reopens the breaker.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from service.config import Integration, Settings
from service.integrations import repository
from service.integrations.metrics import BREAKER_OPEN, DELIVERIES
from service.integrations.providers import writeback
from service.lifecycle import pause
from service.storage.database import write_turn

BATCH = 20
RETRYABLE = frozenset({408, 409, 425, 429})


class CircuitBreaker:
    """closed -> open after ``failures`` in a row -> half-open after ``cooldown`` s -> one trial."""

    def __init__(self, *, failures: int, cooldown: float) -> None:
        self.failures = failures
        self.cooldown = cooldown
        self.state = "closed"
        self.streak = 0
        self.opened_at = 0.0
        self._lock = threading.Lock()

    def allow(self, now: float) -> bool:
        with self._lock:
            # Half-open past the cool-down too: a trial whose outcome never came back (its pass
            # died) must not hold the breaker shut for good. ``opened_at`` moves to the trial, so
            # one trial per cool-down.
            if self.state != "closed" and now - self.opened_at >= self.cooldown:
                self.state, self.opened_at = "half_open", now
                return True  # the one trial
            return self.state == "closed"

    def reopens_at(self) -> float:
        return self.opened_at + self.cooldown

    def succeeded(self) -> None:
        with self._lock:
            self.state, self.streak = "closed", 0

    def failed(self, now: float) -> None:
        with self._lock:
            self.streak += 1
            if self.state == "half_open" or self.streak >= self.failures:
                self.state, self.opened_at = "open", now


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP date; None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max((moment - now).total_seconds(), 0.0)


@dataclass
class SendReport:
    delivered: int = 0
    retrying: int = 0
    dead: int = 0
    waiting: int = 0  # held back by an open breaker
    superseded: int = 0  # a newer decision replaced it while it was sent
    ids: list[int] = field(default_factory=list)

    @property
    def claimed(self) -> int:
        return self.delivered + self.retrying + self.dead + self.waiting + self.superseded


@dataclass(frozen=True)
class _Outcome:
    status: str  # delivered, retrying, dead
    http_status: int | None
    error: str | None
    retry_after: float | None = None


class DeliverySender:
    """Sends due deliveries; one per process (its breakers are this process's view of each helpdesk)."""

    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        settings: Settings,
        log: Any,
        client: httpx.Client | None = None,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.log = log
        self.client = client or httpx.Client(timeout=settings.delivery_timeout_seconds)
        self.jitter = jitter
        self.breakers = {
            name: CircuitBreaker(
                failures=settings.breaker_failures, cooldown=settings.breaker_cooldown_seconds
            )
            for name in settings.integrations
        }
        self._engine: Engine = sessions.kw["bind"]

    def close(self) -> None:
        self.client.close()

    def backoff(self, attempts: int) -> float:
        """The wait after the ``attempts``-th failure: doubling, capped, with half of it random."""
        base = min(
            self.settings.delivery_backoff_seconds * 2 ** max(attempts - 1, 0),
            self.settings.delivery_backoff_max_seconds,
        )
        return float(base / 2 + base / 2 * self.jitter())

    def run_once(self, now: datetime | None = None, stop: Callable[[], bool] = lambda: False) -> SendReport:
        """Claim due deliveries and send them; what became of them."""
        now = now or datetime.now(UTC)
        report = SendReport()
        lease = now + timedelta(seconds=self.settings.delivery_timeout_seconds * BATCH + 60)
        with write_turn(self._engine), self.sessions() as session:
            claimed = repository.claim_deliveries(session, now=now, until=lease, limit=BATCH)
            session.commit()
        # The outcomes are recorded together after the batch: one commit rather than one per
        # delivery. A crash before it re-sends the batch once the lease runs out (PUTs of state).
        settled: list[tuple[int, int, dict[str, Any]]] = []
        names = {row[0]: row[1] for row in claimed}
        for delivery_id, name, external_id, decision, attempts, revision in claimed:
            report.ids.append(delivery_id)
            integration = self.settings.integrations.get(name)
            breaker = self.breakers.get(name)
            if stop() or (breaker is not None and not breaker.allow(now.timestamp())):
                # Not attempted: it waits for the breaker's cool-down (or the next pass), uncounted.
                at = now if breaker is None or stop() else datetime.fromtimestamp(breaker.reopens_at(), UTC)
                settled.append((delivery_id, revision, {"next_attempt_at": at}))
                continue
            try:
                outcome = self._send(integration, name, external_id, decision, delivery_id, revision, now)
            except Exception as exc:  # one bad delivery must not leave the pass's others unsettled
                self.log.error("delivery send failed", integration=name, error_type=type(exc).__name__)
                outcome = _Outcome("retrying", None, type(exc).__name__)
            if breaker is not None:
                if outcome.status == "retrying":
                    breaker.failed(now.timestamp())
                elif outcome.http_status is not None:  # the helpdesk answered: it is up
                    breaker.succeeded()
            tried = attempts + 1
            values: dict[str, Any] = {
                "attempts": tried,
                "updated_at": now,
                "last_status": outcome.http_status,
                "last_error": outcome.error,
            }
            if outcome.status == "delivered":
                values.update(status="delivered", delivered_at=now)
            elif outcome.status == "dead" or tried >= self.settings.delivery_max_attempts:
                values.update(status="dead", dead_at=now)
                self.log.warning(
                    "delivery dead", integration=name, attempts=tried, last_status=outcome.http_status
                )
            else:
                wait = self.backoff(tried)
                if outcome.retry_after is not None:
                    wait = max(wait, min(outcome.retry_after, self.settings.delivery_retry_after_max_seconds))
                values.update(status="retrying", next_attempt_at=now + timedelta(seconds=wait))
            settled.append((delivery_id, revision, values))
        if settled:
            with write_turn(self._engine), self.sessions() as session:
                for delivery_id, revision, values in settled:
                    if not repository.settle_delivery(
                        session,
                        delivery_id=delivery_id,
                        revision=revision,
                        values=values,
                        claimed_until=lease,
                    ):
                        outcome_name = "superseded"
                    else:
                        outcome_name = values.get("status", "waiting")
                    setattr(report, outcome_name, getattr(report, outcome_name) + 1)
                    DELIVERIES.labels(names[delivery_id], outcome_name).inc()
                session.commit()
        for name, breaker in self.breakers.items():
            BREAKER_OPEN.labels(name).set(0 if breaker.state == "closed" else 1)
        return report

    def _send(
        self,
        integration: Integration | None,
        name: str,
        external_id: str,
        decision: dict[str, Any],
        delivery_id: int,
        revision: int,
        now: datetime,
    ) -> _Outcome:
        if integration is None or integration.url is None or integration.provider is None:
            return _Outcome("dead", None, "the integration has no write-back URL configured")
        out = writeback(
            provider=integration.provider,
            base_url=str(integration.url),
            source=name,
            external_id=external_id,
            decision=decision,
            group_id=integration.human_group_id,
        )
        headers = {"Idempotency-Key": f"triage-{name}-{delivery_id}-{revision}"}
        auth: httpx.BasicAuth | None = None
        if integration.token is not None:
            token = integration.token.get_secret_value()
            if integration.auth == "basic":
                user, _, password = token.partition(":")
                auth = httpx.BasicAuth(user, password)
            elif integration.auth == "token":
                headers["Authorization"] = f"Token token={token}"
            else:
                headers["Authorization"] = f"Bearer {token}"
        try:
            response = self.client.request(out.method, out.url, json=out.body, headers=headers, auth=auth)
        except httpx.TimeoutException:
            return _Outcome("retrying", None, "timeout")
        except httpx.HTTPError as exc:  # transport, an undecodable body, too many redirects
            return _Outcome("retrying", None, type(exc).__name__)
        code = response.status_code
        if code < 300 or (code == 409 and integration.provider == "generic"):
            return _Outcome("delivered", code, None)
        if code in RETRYABLE or code >= 500:
            wait = retry_after_seconds(response.headers.get("retry-after"), now)
            return _Outcome("retrying", code, f"HTTP {code}", wait)
        return _Outcome("dead", code, f"HTTP {code}: not retried")


async def send_deliveries(
    *, sender: DeliverySender, poll_seconds: float, stop: asyncio.Event, log: Any
) -> None:
    """The worker's write-back loop: a pass, then a pause unless the batch was full."""
    try:
        while not stop.is_set():
            try:
                report = await run_in_threadpool(sender.run_once, None, stop.is_set)
            except Exception as exc:  # the database may be away for a while; the loop lives on
                log.error("delivery pass failed", error_type=type(exc).__name__)
                report = SendReport()
            if report.claimed - report.waiting < BATCH:
                await pause(stop, poll_seconds)
    finally:
        sender.close()
