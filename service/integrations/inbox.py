"""Scoring from the webhook inbox: claim, score, store, mark done and queue the write-back.

Each worker runs :func:`process_inbox`; every pass claims a batch of due rows (a lease, so
workers and replicas share the work and a dead worker's rows come back), scores them with the
serving model, and commits in one transaction the stored tickets (the same upsert as the
scoring API: one record and at most one queue item per (source, id), however often a ticket is
updated), the rows marked done (their text cleared) and a delivery for each integration that
writes back. A crash anywhere before that commit leaves the rows to be claimed again; after it,
everything is there. A row that fails is tried again later with backoff and, after
``TRIAGE_INBOX_MAX_ATTEMPTS``, marked failed: visible in the table, never dropped.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from service.config import Settings
from service.integrations import repository
from service.integrations.metrics import INBOX
from service.lifecycle import pause
from service.scoring.engine import Scorer
from service.scoring.schemas import TicketAnswer, TicketScoreRequest
from service.scoring.service import score_and_record
from service.storage.database import write_turn
from service.tickets.repository import bulk_writer
from service.tickets.service import ticket_row

BATCH = 100
LEASE_SECONDS = 120
PURGE_EVERY_SECONDS = 3600


class LeaseLost(Exception):
    """Another worker claimed rows of this pass after its lease ran out: it stores them, not us."""


Scored = tuple[int, int, TicketScoreRequest, TicketAnswer]  # row id, attempts, ticket, answer


def decision(answer: TicketAnswer) -> dict[str, Any]:
    """What is written back: the route and why, never the text."""
    return {
        "route": answer["route"],
        "priority": answer["priority"],
        "needs_human": answer["needs_human"],
        "rules": list(answer["rules"]),
        "model_version": answer["model_version"],
        "policy_version": answer["policy_version"],
    }


class InboxProcessor:
    """One worker's share of the inbox; :meth:`run_once` is one pass (blocking: run it in a thread)."""

    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        settings: Settings,
        scorer: Callable[[], Scorer | None],
        log: Any,
        answered: Callable[[list[tuple[TicketScoreRequest, TicketAnswer]]], None] | None = None,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.scorer = scorer
        self.log = log
        self.answered = answered
        self._engine: Engine = sessions.kw["bind"]
        self._writer = bulk_writer(self._engine)
        self._purged_at = 0.0

    def run_once(self, now: datetime | None = None) -> int:
        """Claim and process one batch; the number of rows claimed."""
        now = now or datetime.now(UTC)
        scorer = self.scorer()
        if scorer is None:
            return 0
        self._purge(now)
        max_attempts = self.settings.inbox_max_attempts
        with write_turn(self._engine), self.sessions() as session:
            repository.fail_exhausted(session, now=now, max_attempts=max_attempts)
            claimed = repository.claim_inbox(
                session,
                now=now,
                until=now + timedelta(seconds=LEASE_SECONDS),
                limit=BATCH,
                max_attempts=max_attempts,
            )
            session.commit()
        scored: list[Scored] = []
        failures: list[tuple[int, int, str]] = []
        for row_id, _source, ticket_json, attempts in claimed:
            try:
                if ticket_json is None:
                    raise ValueError("the row holds no ticket")
                ticket = TicketScoreRequest.model_validate_json(ticket_json)
                scored.append((row_id, attempts, ticket, score_and_record(scorer=scorer, ticket=ticket)))
            except Exception as exc:  # this row is retried later; the others go on
                failures.append((row_id, attempts, type(exc).__name__))
        if scored:
            try:
                with write_turn(self._engine), self.sessions() as session:
                    self._commit(session, scored, now)
                    session.commit()
            except LeaseLost:
                # Rolled back; the rows still held come back when the lease runs out.
                self.log.warning("inbox lease lost", rows=len(scored))
                scored = []
            except Exception as exc:
                failures.extend((row_id, attempts, type(exc).__name__) for row_id, attempts, _, _ in scored)
                scored = []
        if failures:
            self._retry_later(failures, now)
        if scored and self.answered is not None:
            self.answered([(ticket, answer) for _, _, ticket, answer in scored])
        INBOX.labels("stored").inc(len(scored))
        if claimed:
            self.log.info("inbox processed", claimed=len(claimed), stored=len(scored), failed=len(failures))
        return len(claimed)

    def _commit(self, session: Session, scored: list[Scored], now: datetime) -> None:
        rows = [ticket_row(ticket, answer) for _, _, ticket, answer in scored]
        # An upsert may touch a record once per statement: a ticket updated twice in one batch
        # is stored in two rounds, in the order the updates arrived, so the later one wins.
        while rows:
            seen: set[tuple[str, str]] = set()
            now_rows: list[tuple[Any, ...]] = []
            later: list[tuple[Any, ...]] = []
            for row in rows:
                (later if (row[0], row[1]) in seen else now_rows).append(row)
                seen.add((row[0], row[1]))
            now_rows.sort(key=lambda r: (r[0], r[1]))  # one order for every worker: no deadlocks
            repository.store_scored(session, writer=self._writer, rows=now_rows, now=now)
            rows = later
        held = repository.finish_inbox(
            session, claimed=[(row_id, attempts) for row_id, attempts, _, _ in scored], now=now
        )
        if held < len(scored):
            raise LeaseLost
        for _, _, ticket, answer in scored:
            source = ticket.source or ""
            integration = self.settings.integrations.get(source)
            if integration is not None and integration.url is not None and answer["id"] is not None:
                repository.upsert_delivery(
                    session, integration=source, external_id=answer["id"], decision=decision(answer), now=now
                )

    def _retry_later(self, failures: list[tuple[int, int, str]], now: datetime) -> None:
        base = self.settings.inbox_retry_seconds
        try:
            with write_turn(self._engine), self.sessions() as session:
                for row_id, attempts, error in failures:
                    wait = min(base * 2 ** max(attempts - 1, 0), 3600.0)
                    failed = attempts >= self.settings.inbox_max_attempts
                    INBOX.labels("failed" if failed else "retry").inc()
                    repository.retry_inbox(
                        session,
                        row_id=row_id,
                        attempts=attempts,
                        failed=failed,
                        next_at=now + timedelta(seconds=wait),
                        error=error,
                    )
                session.commit()
        except Exception as exc:  # the leases run out and the rows are claimed again
            self.log.error("inbox retry not recorded", error_type=type(exc).__name__)
        self.log.warning(
            "inbox rows failed", rows=len(failures), error_types=sorted({f[2] for f in failures})
        )

    def _purge(self, now: datetime) -> None:
        if time.monotonic() - self._purged_at < PURGE_EVERY_SECONDS and self._purged_at:
            return
        self._purged_at = time.monotonic()
        before = now - timedelta(days=self.settings.text_retention_days)
        with write_turn(self._engine), self.sessions() as session:
            repository.purge_inbox(session, before=before)
            session.commit()


async def process_inbox(
    *, processor: InboxProcessor, poll_seconds: float, stop: asyncio.Event, log: Any
) -> None:
    """The worker's inbox loop: a pass, then a pause unless the batch was full."""
    while not stop.is_set():
        try:
            claimed = await run_in_threadpool(processor.run_once)
        except Exception as exc:  # the database may be away for a while; the loop lives on
            log.error("inbox pass failed", error_type=type(exc).__name__)
            claimed = 0
        if claimed < BATCH:
            await pause(stop, poll_seconds)
