"""Receiving a webhook: verify its signature, read the ticket, commit it to the inbox, then answer.

The answer (202) comes only after the commit, so a webhook acknowledged is never lost; scoring
happens later, from the inbox (``service.integrations.inbox``). Nothing is stored for a bad
signature (401), an unknown source (404) or a body that is not a ticket event (422).

The checks run on the event loop (an HMAC and a JSON parse: microseconds). The inserts go to
one thread per process, which commits everything queued meanwhile in one transaction: measured
with ``bench/webhooks.py``, 32 concurrent receipts each committing from the thread pool spent
their time waiting on each other and on the GIL (about 100 webhooks/s on SQLite).
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from service.config import Integration
from service.errors import NotFoundError
from service.integrations import repository
from service.integrations.providers import TicketEvent, parse
from service.integrations.signatures import verify
from service.storage.database import write_turn
from service.storage.grouping import take_group

MAX_GROUP = 256


def read_webhook(
    *,
    integrations: Mapping[str, Integration],
    source: str,
    headers: Mapping[str, str],
    body: bytes,
    tolerance: float,
    now: datetime,
) -> tuple[str, TicketEvent | None]:
    """Verify and parse one webhook: its delivery id and its ticket event (None: nothing to score)."""
    integration = integrations.get(source)
    if integration is None or integration.provider is None:
        # Webhooks are only accepted for a configured integration, i.e. one with a secret.
        raise NotFoundError(f"no integration named {source!r} is configured (TRIAGE_INTEGRATIONS)")
    delivery_id = verify(
        integration=integration, headers=headers, body=body, now=now.timestamp(), tolerance=tolerance
    )
    return delivery_id, parse(provider=integration.provider, source=source, body=body)


@dataclass
class _Receipt:
    source: str
    delivery_id: str
    event: TicketEvent
    at: datetime
    loop: asyncio.AbstractEventLoop
    waiter: asyncio.Future[bool]


def _answer(receipt: _Receipt, added: bool | None, exc: BaseException | None) -> None:
    if receipt.waiter.done():  # the client went away meanwhile
        return
    if exc is None:
        receipt.waiter.set_result(bool(added))
    else:
        receipt.waiter.set_exception(exc)


# A receipt with its outcome: whether it was added, or the error its commit failed with.
_Answer = tuple[_Receipt, bool | None, BaseException | None]


def _answer_all(items: list[_Answer]) -> None:
    """On the loop: one call per commit answers its whole group."""
    for receipt, added, exc in items:
        _answer(receipt, added, exc)


class InboxWriter:
    """The process's inbox writer thread: group commit of received webhooks."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self._engine: Engine = sessions.kw["bind"]
        self._queue: queue.Queue[_Receipt | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="inbox-writer", daemon=True)
        self._stopped = False

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Commit what is queued, then stop."""
        self._stopped = True
        self._queue.put(None)
        self._thread.join()

    async def add(self, *, source: str, delivery_id: str, event: TicketEvent) -> bool:
        """Commit a received ticket event; False when this delivery was there already."""
        if self._stopped:
            raise RuntimeError("the inbox writer has stopped")
        loop = asyncio.get_running_loop()
        receipt = _Receipt(source, delivery_id, event, datetime.now(UTC), loop, loop.create_future())
        self._queue.put(receipt)
        return await receipt.waiter

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            group, stop = take_group(self._queue, first, limit=MAX_GROUP)
            done = self._commit_group(group)
            by_loop: dict[
                asyncio.AbstractEventLoop, list[tuple[_Receipt, bool | None, BaseException | None]]
            ] = {}
            for item in done:
                by_loop.setdefault(item[0].loop, []).append(item)
            for loop, items in by_loop.items():
                with contextlib.suppress(RuntimeError):  # a closed loop has nobody left waiting
                    loop.call_soon_threadsafe(_answer_all, items)
            if stop:
                return

    def _commit_group(self, group: list[_Receipt]) -> list[_Answer]:
        """One transaction for the group; if it fails, one each, so that one bad row fails only
        its own webhook (a 500: not accepted, so the helpdesk sends it again)."""
        try:
            return [(r, added, None) for r, added in zip(group, self._commit(group), strict=True)]
        except BaseException as exc:
            if len(group) == 1:
                return [(group[0], None, exc)]
        done: list[_Answer] = []
        for receipt in group:
            try:
                done.append((receipt, self._commit([receipt])[0], None))
            except BaseException as exc:
                done.append((receipt, None, exc))
        return done

    def _commit(self, group: list[_Receipt]) -> list[bool]:
        with write_turn(self._engine), self.sessions() as session:
            # The same delivery twice in one group: the second finds the first's row and is a duplicate.
            added = [
                repository.add_to_inbox(
                    session,
                    source=r.source,
                    delivery_id=r.delivery_id,
                    event=r.event.event,
                    external_id=r.event.external_id,
                    ticket=r.event.ticket.model_dump_json(exclude_none=True),
                    now=r.at,
                )
                for r in group
            ]
            session.commit()
        return added
