"""Storing scored tickets with group commit: a 2xx is sent only after its tickets are committed.

One writer thread per process owns the writes. A request hands it the scored tickets (and its
idempotency key) and waits for the commit; the thread takes everything queued meanwhile into one
transaction, so a burst of requests costs one commit rather than one each. If a combined
transaction fails, its requests are retried one by one, so one bad request never fails another.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import queue
import threading
import uuid
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import PoolProxiedConnection

from service.scoring.schemas import TicketScore, TicketScoreRequest
from service.storage.database import write_turn
from service.tickets import repository

MAX_GROUP = 256
PRIORITY_RANK = {"urgent": 0, "high": 1, "normal": 2, "low": 3}
DEFAULT_SOURCE = "api"


@dataclass(frozen=True)
class Replay:
    """A stored response for an idempotency key seen before."""

    status_code: int
    body: str
    request_sha256: str


@dataclass
class _Job:
    tickets: list[tuple[TicketScoreRequest, TicketScore]]
    idempotency_key: str | None
    request_sha256: str
    body: str
    future: Future[Replay | None]


def request_digest(payload: str) -> str:
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def with_ticket_id(ticket: TicketScoreRequest, result: TicketScore) -> TicketScore:
    """A ticket sent without an id gets one, so that it can be found again."""
    return result if result.id is not None else result.model_copy(update={"id": f"t-{uuid.uuid4().hex}"})


def ticket_row(ticket: TicketScoreRequest, result: TicketScore) -> tuple[Any, ...]:
    """The values of ``repository.ROW_COLUMNS``, in that order."""
    dims = result.dimensions
    return (
        ticket.source or DEFAULT_SOURCE,
        result.id,
        ticket.text,
        ticket.subject,
        ticket.channel,
        ticket.customer.id if ticket.customer else None,
        result.language,
        result.language_supported,
        result.route,
        result.priority,
        result.needs_human,
        dims.emotional if dims else None,
        dims.complex if dims else None,
        dims.nuanced if dims else None,
        result.threshold,
        [r.model_dump(exclude_none=True) for r in result.reasons],
        list(result.rules),
        result.model_version,
        result.policy_version,
        PRIORITY_RANK[result.priority],
        max(("emotional", "complex", "nuanced"), key=lambda d: getattr(dims, d)) if dims else None,
    )


def _succeed(job: _Job, outcome: Replay | None) -> None:
    # A request that was cancelled (its client went away) cancelled its future: nothing to tell.
    if not job.future.done():
        with contextlib.suppress(InvalidStateError):
            job.future.set_result(outcome)


def _fail(job: _Job, exc: BaseException) -> None:
    if not job.future.done():
        with contextlib.suppress(InvalidStateError):
            job.future.set_exception(exc)


class TicketStore:
    """The process's writer thread and its queue."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self._engine: Engine = sessions.kw["bind"]
        self._writer = repository.bulk_writer(self._engine)
        self._integrity_error: type[Exception] = self._engine.dialect.loaded_dbapi.IntegrityError
        # The writer thread's DBAPI connection, opened at its first commit.
        self._conn: PoolProxiedConnection | None = None
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="ticket-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Finish what is queued, then stop; anything submitted after the stop is failed, not left waiting."""
        self._queue.put(None)
        self._thread.join()
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                return
            if job is not None:
                _fail(job, RuntimeError("the ticket store has stopped"))

    def lookup(self, key: str) -> Replay | None:
        with self.sessions() as session:
            found = repository.get_idempotency(session, key)
            return (
                None
                if found is None
                else Replay(found.status_code, found.response_body, found.request_sha256)
            )

    def submit(
        self,
        tickets: list[tuple[TicketScoreRequest, TicketScore]],
        *,
        body: str,
        idempotency_key: str | None = None,
        request_sha256: str = "",
    ) -> Future[Replay | None]:
        """Queue tickets (and the response for the key) for the next commit; the future resolves after it.

        It resolves to a :class:`Replay` when another request stored the same key first.
        """
        job = _Job(tickets, idempotency_key, request_sha256, body, Future())
        self._queue.put(job)
        return job.future

    async def save(
        self, tickets: list[tuple[TicketScoreRequest, TicketScore]], **kwargs: Any
    ) -> Replay | None:
        return await asyncio.wrap_future(self.submit(tickets, **kwargs))

    def _apply(self, cursor: Any, jobs: list[_Job], now: datetime) -> list[Replay | None]:
        """Write the jobs in one transaction: bulk statements, whatever the number of jobs."""
        keys = [j.idempotency_key for j in jobs if j.idempotency_key]
        stored = self._writer.find_keys(cursor, keys) if keys else {}
        outcomes: list[Replay | None] = []
        rows: list[tuple[Any, ...]] = []
        for job in jobs:
            found = stored.get(job.idempotency_key) if job.idempotency_key else None
            outcomes.append(None if found is None else Replay(*found))
            if found is None:
                rows.extend(ticket_row(t, r) for t, r in job.tickets)
        # An upsert may touch a record once: a ticket repeated in the group waits for the next round.
        while rows:
            seen: set[tuple[str, str]] = set()
            now_rows: list[tuple[Any, ...]] = []
            later: list[tuple[Any, ...]] = []
            for row in rows:
                key = (row[0], row[1])
                (later if key in seen else now_rows).append(row)
                seen.add(key)
            # One order for every worker, so that two upserts of overlapping tickets cannot deadlock.
            now_rows.sort(key=lambda r: (r[0], r[1]))
            self._writer.store_scored(cursor, now_rows, now)
            rows = later
        records = [
            (job.idempotency_key, job.request_sha256, 200, job.body)
            for job, outcome in zip(jobs, outcomes, strict=True)
            if outcome is None and job.idempotency_key is not None
        ]
        if records:
            self._writer.add_keys(cursor, records, now)
        return outcomes

    def _run(self) -> None:
        try:
            self._serve()
        finally:
            self._close()

    def _serve(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            jobs = [first]
            stop = False
            while len(jobs) < MAX_GROUP:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                jobs.append(nxt)
            try:
                self._commit(jobs)
            except BaseException as exc:
                # Whatever happened (a lock file that cannot be opened, a lookup that failed), no
                # request may wait forever and the thread must live on for the next ones.
                for job in jobs:
                    _fail(job, exc)
            if stop:
                return

    def _commit(self, jobs: list[_Job]) -> None:
        with write_turn(self._engine):
            self._commit_jobs(jobs)

    def _transaction(self, jobs: list[_Job], now: datetime) -> list[Replay | None]:
        """One transaction on the writer's own connection, kept from one commit to the next: no
        pool checkout and no pre-ping round trip per commit. A connection that cannot even roll
        back is dropped, and the next commit opens another."""
        if self._conn is None:
            self._conn = self._engine.raw_connection()
        conn = self._conn
        try:
            cursor = conn.cursor()
            try:
                outcomes = self._apply(cursor, jobs, now)
            finally:
                cursor.close()
            conn.commit()
        except BaseException:
            try:
                conn.rollback()
            except Exception:
                self._conn = None
                with contextlib.suppress(Exception):
                    conn.invalidate()
            raise
        return outcomes

    def _close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None

    def _commit_jobs(self, jobs: list[_Job]) -> None:
        now = datetime.now(UTC)
        keys = [j.idempotency_key for j in jobs if j.idempotency_key]
        if len(jobs) > 1 and len(keys) == len(set(keys)):
            try:
                outcomes = self._transaction(jobs, now)
            except Exception:  # noqa: S110 - retried one by one below, where each job gets its own error
                pass
            else:
                for job, outcome in zip(jobs, outcomes, strict=True):
                    _succeed(job, outcome)
                return
        for job in jobs:
            try:
                outcome = self._transaction([job], now)[0]
            except self._integrity_error as exc:
                # Another process stored the same idempotency key between our check and commit.
                try:
                    replay = self.lookup(job.idempotency_key) if job.idempotency_key else None
                except Exception as lookup_exc:
                    _fail(job, lookup_exc)
                    continue
                if replay is None:
                    _fail(job, exc)
                else:
                    _succeed(job, replay)
            except Exception as exc:
                _fail(job, exc)
            else:
                _succeed(job, outcome)
