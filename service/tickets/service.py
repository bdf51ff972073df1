"""Storing scored tickets with group commit: a 2xx is sent only after its tickets are committed.

One writer thread per process owns the writes. A request hands it the scored tickets (and its
idempotency key) and waits for the commit; the thread takes everything queued meanwhile into one
transaction, so a burst of requests costs one commit rather than one each. If a combined
transaction fails, its requests are retried one by one, so one bad request never fails another.

Requests on the event loop hand over their jobs once per loop iteration, and the writer answers
them once per commit: every hand-off between the loop and the thread costs a wake-up and a
GIL round trip, which under load cost the loop more than the writing itself.
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

from service.scoring.schemas import TicketAnswer, TicketScoreRequest
from service.storage.database import write_turn
from service.storage.grouping import take_group
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
    tickets: list[tuple[TicketScoreRequest, TicketAnswer]]
    idempotency_key: str | None
    request_sha256: str
    body: str
    # Exactly one is set: a caller in a thread waits on ``future``, a request on the loop on ``waiter``.
    future: Future[Replay | None] | None = None
    waiter: asyncio.Future[Replay | None] | None = None


# A job with its outcome: the replay (or None), or the error it failed with.
_Done = tuple[_Job, Replay | None, BaseException | None]


def request_digest(payload: str) -> str:
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def with_ticket_id(ticket: TicketScoreRequest, answer: TicketAnswer) -> TicketAnswer:
    """A ticket sent without an id gets one, so that it can be found again."""
    return answer if answer["id"] is not None else {**answer, "id": f"t-{uuid.uuid4().hex}"}


def ticket_row(ticket: TicketScoreRequest, answer: TicketAnswer) -> tuple[Any, ...]:
    """The values of ``repository.ROW_COLUMNS``, in that order."""
    dims = answer["dimensions"]
    return (
        ticket.source or DEFAULT_SOURCE,
        answer["id"],
        ticket.text,
        ticket.subject,
        ticket.channel,
        ticket.customer.id if ticket.customer else None,
        answer["language"],
        answer["language_supported"],
        answer["route"],
        answer["priority"],
        answer["needs_human"],
        dims["emotional"] if dims else None,
        dims["complex"] if dims else None,
        dims["nuanced"] if dims else None,
        answer["threshold"],
        # Stored without the empty fields, as ``Reason.model_dump(exclude_none=True)`` gives them.
        [{k: v for k, v in reason.items() if v is not None} for reason in answer["reasons"]],
        list(answer["rules"]),
        answer["model_version"],
        answer["policy_version"],
        PRIORITY_RANK[answer["priority"]],
        max(("emotional", "complex", "nuanced"), key=dims.__getitem__) if dims else None,
    )


def _one_store(jobs: list[_Job]) -> bool:
    """No idempotency key to look up or store, and no ticket twice: the jobs are one ``store_scored``."""
    if any(job.idempotency_key for job in jobs):
        return False
    tickets = [(t.source or DEFAULT_SOURCE, r["id"]) for job in jobs for t, r in job.tickets]
    return len(set(tickets)) == len(tickets)


def _settle(done: list[_Done]) -> None:
    """Tell every job its outcome: a thread's future at once, the loop's waiters in one call per loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Done]] = {}
    for job, outcome, exc in done:
        if job.waiter is not None:
            by_loop.setdefault(job.waiter.get_loop(), []).append((job, outcome, exc))
        elif job.future is not None and not job.future.done():
            # A caller that gave up (cancelled its future) has nothing left to tell.
            with contextlib.suppress(InvalidStateError):
                if exc is None:
                    job.future.set_result(outcome)
                else:
                    job.future.set_exception(exc)
    for loop, jobs in by_loop.items():
        with contextlib.suppress(RuntimeError):  # a closed loop has nobody left waiting
            loop.call_soon_threadsafe(_wake, jobs)


def _wake(done: list[_Done]) -> None:
    """On the loop: resolve the waiters, skipping requests cancelled meanwhile (their client went away)."""
    for job, outcome, exc in done:
        waiter = job.waiter
        if waiter is None or waiter.done():
            continue
        if exc is None:
            waiter.set_result(outcome)
        else:
            waiter.set_exception(exc)


class TicketStore:
    """The process's writer thread and its queue."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self._engine: Engine = sessions.kw["bind"]
        self._writer = repository.bulk_writer(self._engine)
        self._integrity_error: type[Exception] = self._engine.dialect.loaded_dbapi.IntegrityError
        # The writer thread's DBAPI connection, opened at its first commit.
        self._conn: PoolProxiedConnection | None = None
        self._queue: queue.Queue[list[_Job] | None] = queue.Queue()
        # Jobs of the current loop iteration, per event loop, handed over together by ``_flush``.
        self._pending: dict[asyncio.AbstractEventLoop, list[_Job]] = {}
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="ticket-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Finish what is queued, then stop; anything submitted after the stop is failed, not left waiting."""
        self._stopped = True
        self._queue.put(None)
        self._thread.join()
        gone = RuntimeError("the ticket store has stopped")
        while True:
            try:
                jobs = self._queue.get_nowait()
            except queue.Empty:
                return
            if jobs is not None:
                _settle([(job, None, gone) for job in jobs])

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
        tickets: list[tuple[TicketScoreRequest, TicketAnswer]],
        *,
        body: str,
        idempotency_key: str | None = None,
        request_sha256: str = "",
    ) -> Future[Replay | None]:
        """Queue tickets (and the response for the key) for the next commit; the future resolves after it.

        It resolves to a :class:`Replay` when another request stored the same key first.
        """
        job = _Job(tickets, idempotency_key, request_sha256, body, future=Future())
        self._queue.put([job])
        assert job.future is not None
        return job.future

    async def save(
        self,
        tickets: list[tuple[TicketScoreRequest, TicketAnswer]],
        *,
        body: str,
        idempotency_key: str | None = None,
        request_sha256: str = "",
    ) -> Replay | None:
        """What :meth:`submit` does, for a request on the event loop."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Replay | None] = loop.create_future()
        job = _Job(tickets, idempotency_key, request_sha256, body, waiter=waiter)
        pending = self._pending.get(loop)
        if pending is None:
            # The first job of this iteration: the rest join it before the loop runs ``_flush``.
            pending = self._pending[loop] = []
            loop.call_soon(self._flush, loop)
        pending.append(job)
        return await waiter

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        jobs = self._pending.pop(loop, [])
        if self._stopped:
            _settle([(job, None, RuntimeError("the ticket store has stopped")) for job in jobs])
        elif jobs:
            self._queue.put(jobs)

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
            batches, stop = take_group(self._queue, first, limit=MAX_GROUP, size=len)
            jobs = [job for batch in batches for job in batch]
            try:
                done = self._commit(jobs)
            except BaseException as exc:
                # Whatever happened (a lock file that cannot be opened, a lookup that failed), no
                # request may wait forever and the thread must live on for the next ones.
                done = [(job, None, exc) for job in jobs]
            _settle(done)
            if stop:
                return

    def _commit(self, jobs: list[_Job]) -> list[_Done]:
        with write_turn(self._engine):
            return self._commit_jobs(jobs)

    def _transaction(self, jobs: list[_Job], now: datetime) -> list[Replay | None]:
        """One transaction on the writer's own connection, kept from one commit to the next: no
        pool checkout and no pre-ping round trip per commit. A connection that cannot even roll
        back is dropped, and the next commit opens another."""
        if self._conn is None:
            conn = self._engine.raw_connection()
            try:
                self._writer.prepare(conn)
            except BaseException:
                conn.invalidate()
                raise
            self._conn = conn
        conn = self._conn
        try:
            with self._writer.transaction(conn, one_store=_one_store(jobs)):
                cursor = conn.cursor()
                try:
                    outcomes = self._apply(cursor, jobs, now)
                finally:
                    cursor.close()
        except BaseException:
            if not self._writer.recover(conn):
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

    def _commit_jobs(self, jobs: list[_Job]) -> list[_Done]:
        now = datetime.now(UTC)
        keys = [j.idempotency_key for j in jobs if j.idempotency_key]
        if len(jobs) > 1 and len(keys) == len(set(keys)):
            try:
                outcomes = self._transaction(jobs, now)
            except Exception:  # noqa: S110 - retried one by one below, where each job gets its own error
                pass
            else:
                return [(job, outcome, None) for job, outcome in zip(jobs, outcomes, strict=True)]
        done: list[_Done] = []
        for job in jobs:
            try:
                done.append((job, self._transaction([job], now)[0], None))
            except self._integrity_error as exc:
                # Another process stored the same idempotency key between our check and commit.
                try:
                    replay = self.lookup(job.idempotency_key) if job.idempotency_key else None
                except Exception as lookup_exc:
                    done.append((job, None, lookup_exc))
                    continue
                done.append((job, replay, exc if replay is None else None))
            except Exception as exc:
                done.append((job, None, exc))
        return done
