"""``AsyncTriageClient``: the same methods as ``TriageClient``, awaited, on one ``httpx.AsyncClient``.

It waits between attempts with ``asyncio.sleep``, so it runs under asyncio (not trio).
"""

from __future__ import annotations

import logging
from asyncio import sleep
from collections.abc import AsyncIterator, Mapping, Sequence
from types import TracebackType
from typing import TypeVar

import httpx

from triage_client import calls
from triage_client.calls import DEFAULT_RETRY, DEFAULT_TIMEOUT, Call
from triage_client.retry import RetryPolicy
from triage_client.schemas import (
    Correction,
    Dimension,
    Feedback,
    Health,
    Outcome,
    OutcomeReport,
    Priority,
    QueueItem,
    QueuePage,
    Readiness,
    ScoreResult,
    Status,
    StoredTicket,
    Ticket,
)

T = TypeVar("T")
log = logging.getLogger("triage_client")


class AsyncTriageClient:
    """An async client of one ticket-triage service; ``async with`` it, or await ``aclose()``.

    ``api_key`` is sent as ``Authorization: Bearer``; leave it out for a service in the open mode.
    ``transport`` replaces httpx's network transport (a ``MockTransport`` in tests, a proxy or
    custom TLS set-up in production).
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout: httpx.Timeout | float | None = DEFAULT_TIMEOUT,
        retry: RetryPolicy = DEFAULT_RETRY,
        transport: httpx.AsyncBaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.retry = retry
        self._http = httpx.AsyncClient(
            base_url=base_url,
            headers=calls.default_headers(api_key, headers),
            timeout=timeout,
            transport=transport,
        )

    async def __aenter__(self) -> AsyncTriageClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connections."""
        await self._http.aclose()

    async def _send(self, call: Call[T]) -> T:
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._http.request(
                    call.method,
                    call.path,
                    content=call.content,
                    params=call.params,
                    headers=calls.request_headers(call),
                )
            except httpx.RequestError as exc:
                wait = calls.next_wait(call, self.retry, attempt=attempt, error=exc)
                if wait is None:
                    raise calls.request_failure(exc, call, attempts=attempt) from exc
                failure = type(exc).__name__
            else:
                wait = calls.next_wait(call, self.retry, attempt=attempt, response=response)
                if wait is None:
                    return calls.finish(call, response, attempts=attempt)
                failure = str(response.status_code)
            log.info(
                "retrying %s %s after %s in %.2f s (attempt %d)",
                call.method,
                call.path,
                failure,
                wait,
                attempt,
            )
            await sleep(wait)

    async def score(self, ticket: Ticket, *, idempotency_key: str | None = None) -> ScoreResult:
        """Score and store one ticket; retries replay the first answer (one key per call unless given)."""
        return await self._send(calls.score(ticket, idempotency_key=idempotency_key))

    async def score_batch(
        self, tickets: Sequence[Ticket], *, idempotency_key: str | None = None
    ) -> list[ScoreResult]:
        """Score and store up to 1,000 tickets; the results come back in the same order."""
        return await self._send(calls.score_batch(tickets, idempotency_key=idempotency_key))

    async def get_ticket(self, ticket_id: str, *, source: str | None = None) -> StoredTicket:
        """A stored ticket with its latest scores and its history."""
        return await self._send(calls.get_ticket(ticket_id, source=source))

    async def erase_ticket(self, ticket_id: str, *, source: str | None = None) -> None:
        """Erase a stored ticket's text, subject, quoted phrases and notes (an ``ops`` key)."""
        await self._send(calls.erase_ticket(ticket_id, source=source))

    async def report_missed(
        self,
        ticket_id: str,
        *,
        source: str | None = None,
        corrections: Mapping[Dimension, Correction] | None = None,
        note: str | None = None,
        reporter: str | None = None,
    ) -> Feedback:
        """Report a stored ticket that automation kept but that needed a person."""
        return await self._send(
            calls.report_missed(
                ticket_id, source=source, corrections=corrections, note=note, reporter=reporter
            )
        )

    async def report_outcome(
        self,
        ticket_id: str,
        *,
        source: str | None = None,
        csat: int | None = None,
        reopened: bool | None = None,
    ) -> OutcomeReport:
        """What became of a stored ticket: CSAT (1-5), reopened, or both."""
        return await self._send(calls.report_outcome(ticket_id, source=source, csat=csat, reopened=reopened))

    async def list_queue(
        self,
        *,
        status: Status | None = None,
        dimension: Dimension | None = None,
        language: str | None = None,
        priority: Priority | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> QueuePage:
        """One page of queue items (the service's default: open ones, 50), priority first, then oldest."""
        return await self._send(
            calls.list_queue(
                status=status,
                dimension=dimension,
                language=language,
                priority=priority,
                limit=limit,
                cursor=cursor,
            )
        )

    async def iter_queue(
        self,
        *,
        status: Status | None = None,
        dimension: Dimension | None = None,
        language: str | None = None,
        priority: Priority | None = None,
        page_size: int | None = None,
    ) -> AsyncIterator[QueueItem]:
        """Every matching queue item, fetching page after page as the iteration goes."""
        cursor: str | None = None
        while True:
            page = await self.list_queue(
                status=status,
                dimension=dimension,
                language=language,
                priority=priority,
                limit=page_size,
                cursor=cursor,
            )
            for item in page.items:
                yield item
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def get_item(self, item_id: int) -> QueueItem:
        """One queue item with its ticket's text, scores and reasons."""
        return await self._send(calls.get_item(item_id))

    async def claim(
        self, item_id: int, *, agent: str | None = None, lease_seconds: int | None = None
    ) -> QueueItem:
        """Take an item under a lease (``ConflictError`` while another agent holds it)."""
        return await self._send(calls.claim(item_id, agent=agent, lease_seconds=lease_seconds))

    async def release(self, item_id: int, *, agent: str | None = None) -> QueueItem:
        """Give a held item back to the open queue."""
        return await self._send(calls.release(item_id, agent=agent))

    async def resolve(self, item_id: int, outcome: Outcome, *, agent: str | None = None) -> QueueItem:
        """Close a held item: 'resolved', 'escalated' or 'not_needed'."""
        return await self._send(calls.resolve(item_id, outcome=outcome, agent=agent))

    async def give_feedback(
        self,
        item_id: int,
        *,
        flag_correct: bool,
        corrections: Mapping[Dimension, Correction] | None = None,
        note: str | None = None,
        agent: str | None = None,
    ) -> Feedback:
        """An agent's verdict on an item: did it need a person, per-dimension corrections, a note."""
        return await self._send(
            calls.give_feedback(
                item_id, flag_correct=flag_correct, corrections=corrections, note=note, agent=agent
            )
        )

    async def healthz(self) -> Health:
        """The process answers HTTP."""
        return await self._send(calls.healthz())

    async def readyz(self) -> Readiness:
        """Whether a model is loaded (``.ready``), and which; 'loading' is an answer, not an error."""
        return await self._send(calls.readyz())
