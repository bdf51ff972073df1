"""The shadow model: it scores the same tickets as the champion, after their responses are sent.

The scoring routes hand each answered ticket to :class:`ShadowRecorder` as a background task (it
runs once the response is on its way), which only puts it on a bounded queue. A thread scores
the queue with the shadow and stores the scores in batches. When the queue is full the shadow
skips tickets (counted in ``triage_shadow_skipped_total``) rather than slow serving down.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prometheus_client import Counter
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from service.lifecycle import pause
from service.registry import repository
from service.registry.service import materialize
from service.scoring.engine import Scorer, answer_ticket
from service.scoring.schemas import TicketAnswer, TicketScoreRequest

MAX_WAITING = 10_000
BATCH = 500
SHADOW_SCORED = Counter("triage_shadow_scored_total", "Tickets scored by the shadow model.")
SHADOW_SKIPPED = Counter("triage_shadow_skipped_total", "Tickets the shadow skipped: its queue was full.")

Answered = list[tuple[TicketScoreRequest, TicketAnswer]]


class ShadowRecorder:
    """The shadow scorer (None: no shadow), its queue and its thread."""

    def __init__(self, sessions: sessionmaker[Session], log: Any) -> None:
        self.sessions = sessions
        self.scorer: Scorer | None = None
        self.version_id: int | None = None
        self.log = log
        self._queue: queue.Queue[tuple[Scorer, Answered] | None] = queue.Queue(MAX_WAITING)
        self._thread = threading.Thread(target=self._run, name="shadow-scorer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)

    def enqueue(self, answered: Answered) -> None:
        scorer = self.scorer
        if scorer is None:
            return
        try:
            self._queue.put_nowait((scorer, answered))
        except queue.Full:
            SHADOW_SKIPPED.inc(len(answered))

    async def submit(self, answered: Answered) -> None:
        """``enqueue`` as a coroutine, so that a background task runs it on the loop, not in a thread."""
        self.enqueue(answered)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            jobs = [first]
            while len(jobs) < BATCH:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)
                    break
                jobs.append(nxt)
            try:
                self._record(jobs)
            except Exception as exc:  # the shadow never takes the service down
                self.log.error("shadow scoring failed", error_type=type(exc).__name__)

    def _record(self, jobs: list[tuple[Scorer, Answered]]) -> None:
        now = datetime.now(UTC)
        rows = []
        for scorer, answered in jobs:
            for ticket, served in answered:
                answer = answer_ticket(scorer=scorer, ticket=ticket)
                dims = answer["dimensions"]
                rows.append(
                    {
                        "source": ticket.source or "api",
                        "external_id": served["id"],
                        "model_name": scorer.model.name,
                        "model_version": scorer.model.version,
                        "route": answer["route"],
                        "needs_human": answer["needs_human"],
                        "emotional": dims["emotional"] if dims else None,
                        "complex": dims["complex"] if dims else None,
                        "nuanced": dims["nuanced"] if dims else None,
                        "scored_at": now,
                    }
                )
        with self.sessions() as session:
            repository.add_shadow_scores(session, rows)
            session.commit()
        SHADOW_SCORED.inc(len(rows))


async def follow_shadow(
    *,
    recorder: ShadowRecorder,
    name: str,
    poll_seconds: float,
    cache_dir: Path,
    build: Callable[[Path], Scorer],
    stop: asyncio.Event,
) -> None:
    """Keep the recorder's scorer on the registry's shadow of ``name`` (or none)."""

    def current() -> int | None:
        with recorder.sessions() as session:
            row = repository.shadow(session, name)
            return None if row is None else row.id

    failed: int | None = None
    while not stop.is_set():
        try:
            wanted = await run_in_threadpool(current)
            if wanted is None:
                recorder.scorer, recorder.version_id = None, None
            elif wanted not in (recorder.version_id, failed):

                def load(version_id: int = wanted) -> Scorer:
                    with recorder.sessions() as session:
                        folder = materialize(session=session, version_id=version_id, cache_dir=cache_dir)
                    return build(folder)

                try:
                    recorder.scorer = await run_in_threadpool(load)
                    recorder.version_id = wanted
                    recorder.log.info("shadow model loaded", version=recorder.scorer.model.version)
                except Exception as exc:
                    failed = wanted
                    recorder.log.error("shadow model refused", reason=str(exc))
        except Exception as exc:
            recorder.log.error("shadow poll failed", error_type=type(exc).__name__)
        await pause(stop, poll_seconds)
