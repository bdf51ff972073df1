"""``TriageClient``: the service's API from synchronous code, on one ``httpx.Client``.

Every method builds its ``Call`` (``triage_client.calls``) and sends it through ``_send``, the
retry loop; ``AsyncTriageClient`` has the same methods with the same arguments.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from time import sleep
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


class TriageClient:
    """A client of one ticket-triage service; use it as a context manager, or call ``close()``.

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
        transport: httpx.BaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.retry = retry
        self._http = httpx.Client(
            base_url=base_url,
            headers=calls.default_headers(api_key, headers),
            timeout=timeout,
            transport=transport,
        )

    def __enter__(self) -> TriageClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    def _send(self, call: Call[T]) -> T:
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._http.request(
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
            sleep(wait)

    def score(self, ticket: Ticket, *, idempotency_key: str | None = None) -> ScoreResult:
        """Score and store one ticket; retries replay the first answer (one key per call unless given)."""
        return self._send(calls.score(ticket, idempotency_key=idempotency_key))

    def score_batch(
        self, tickets: Sequence[Ticket], *, idempotency_key: str | None = None
    ) -> list[ScoreResult]:
        """Score and store up to 1,000 tickets; the results come back in the same order."""
        return self._send(calls.score_batch(tickets, idempotency_key=idempotency_key))

    def get_ticket(self, ticket_id: str, *, source: str | None = None) -> StoredTicket:
        """A stored ticket with its latest scores and its history."""
        return self._send(calls.get_ticket(ticket_id, source=source))

    def erase_ticket(self, ticket_id: str, *, source: str | None = None) -> None:
        """Erase a stored ticket's text, subject, quoted phrases and notes (an ``ops`` key)."""
        self._send(calls.erase_ticket(ticket_id, source=source))

    def report_missed(
        self,
        ticket_id: str,
        *,
        source: str | None = None,
        corrections: Mapping[Dimension, Correction] | None = None,
        note: str | None = None,
        reporter: str | None = None,
    ) -> Feedback:
        """Report a stored ticket that automation kept but that needed a person."""
        return self._send(
            calls.report_missed(
                ticket_id, source=source, corrections=corrections, note=note, reporter=reporter
            )
        )

    def report_outcome(
        self,
        ticket_id: str,
        *,
        source: str | None = None,
        csat: int | None = None,
        reopened: bool | None = None,
    ) -> OutcomeReport:
        """What became of a stored ticket: CSAT (1-5), reopened, or both."""
        return self._send(calls.report_outcome(ticket_id, source=source, csat=csat, reopened=reopened))

    def list_queue(
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
        return self._send(
            calls.list_queue(
                status=status,
                dimension=dimension,
                language=language,
                priority=priority,
                limit=limit,
                cursor=cursor,
            )
        )

    def iter_queue(
        self,
        *,
        status: Status | None = None,
        dimension: Dimension | None = None,
        language: str | None = None,
        priority: Priority | None = None,
        page_size: int | None = None,
    ) -> Iterator[QueueItem]:
        """Every matching queue item, fetching page after page as the iteration goes."""
        cursor: str | None = None
        while True:
            page = self.list_queue(
                status=status,
                dimension=dimension,
                language=language,
                priority=priority,
                limit=page_size,
                cursor=cursor,
            )
            yield from page.items
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def get_item(self, item_id: int) -> QueueItem:
        """One queue item with its ticket's text, scores and reasons."""
        return self._send(calls.get_item(item_id))

    def claim(self, item_id: int, *, agent: str | None = None, lease_seconds: int | None = None) -> QueueItem:
        """Take an item under a lease (``ConflictError`` while another agent holds it)."""
        return self._send(calls.claim(item_id, agent=agent, lease_seconds=lease_seconds))

    def release(self, item_id: int, *, agent: str | None = None) -> QueueItem:
        """Give a held item back to the open queue."""
        return self._send(calls.release(item_id, agent=agent))

    def resolve(self, item_id: int, outcome: Outcome, *, agent: str | None = None) -> QueueItem:
        """Close a held item: 'resolved', 'escalated' or 'not_needed'."""
        return self._send(calls.resolve(item_id, outcome=outcome, agent=agent))

    def give_feedback(
        self,
        item_id: int,
        *,
        flag_correct: bool,
        corrections: Mapping[Dimension, Correction] | None = None,
        note: str | None = None,
        agent: str | None = None,
    ) -> Feedback:
        """An agent's verdict on an item: did it need a person, per-dimension corrections, a note."""
        return self._send(
            calls.give_feedback(
                item_id, flag_correct=flag_correct, corrections=corrections, note=note, agent=agent
            )
        )

    def healthz(self) -> Health:
        """The process answers HTTP."""
        return self._send(calls.healthz())

    def readyz(self) -> Readiness:
        """Whether a model is loaded (``.ready``), and which; 'loading' is an answer, not an error."""
        return self._send(calls.readyz())
