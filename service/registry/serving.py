"""Which bundle a worker serves, and the hot swap: every worker follows the registry's champion.

At start-up the champion of ``TRIAGE_MODEL_NAME`` is loaded from the database; when the registry
holds no version of that name yet, the configured bundle on disk is registered as its champion
(first start). Pinning ``TRIAGE_MODEL_VERSION`` serves that bundle from disk and follows nothing.

Each worker then polls the champion every ``TRIAGE_MODEL_POLL_SECONDS``. A new one is loaded and
verified in full (checksum, types, one warm-up scoring) while the old one serves on; the worker
then waits for the champion's ``serving_from``: the first request at or after it takes the new scorer, in one
assignment on the event loop. A request holds the scorer it started with, so nothing is scored by a half-loaded model and every response
names the model that scored it. A bundle that fails to load is logged and skipped; the old model
serves on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from service.errors import ConflictError
from service.lifecycle import pause
from service.registry import repository
from service.registry.service import materialize, register
from service.tickets.service import TicketStore


@dataclass(frozen=True)
class ChampionRef:
    id: int
    version: str
    serving_from: datetime


def champion_ref(store: TicketStore, name: str) -> ChampionRef | None:
    with store.sessions() as session:
        row = repository.champion(session, name)
        if row is None:
            return None
        since = row.serving_from or row.registered_at
        since = since if since.tzinfo else since.replace(tzinfo=UTC)
        return ChampionRef(row.id, row.version, since)


def champion_bundle(*, store: TicketStore, name: str, configured: Path, cache_dir: Path) -> tuple[Path, int]:
    """The champion's bundle folder and id, registering ``configured`` as champion on a first start."""
    ref = champion_ref(store, name)
    if ref is None:
        try:
            with store.sessions() as session:
                register(
                    session=session, directory=configured, actor="system (first start)", as_champion=True
                )
        except (ConflictError, IntegrityError):
            pass  # another worker registered it at the same moment
        ref = champion_ref(store, name)
        if ref is None:
            raise RuntimeError(
                f"the registry holds versions of {name!r} but no champion: promote one (triage models promote)"
            )
    with store.sessions() as session:
        return materialize(session=session, version_id=ref.id, cache_dir=cache_dir), ref.id


async def follow_champion(
    *,
    store: TicketStore,
    name: str,
    serving_id: int,
    poll_seconds: float,
    cache_dir: Path,
    build: Callable[[Path], Any],
    stage: Callable[[Any, float], None],
    settle: Callable[[], None],
    log: Any,
    stop: asyncio.Event,
) -> None:
    """Poll the champion until ``stop``; load a new one fully, stage it for its ``serving_from``.

    The switch itself happens per request (the first request at or after ``serving_from`` takes
    the staged scorer), so it is exact to the request rather than to a timer on a busy loop;
    ``settle`` makes it happen on an idle worker too, and publishes it.
    """
    failed: int | None = None
    while not await pause(stop, poll_seconds):
        try:
            ref = await run_in_threadpool(champion_ref, store, name)
            if ref is None or ref.id in (serving_id, failed):
                continue

            def load(ref: ChampionRef = ref) -> Any:
                with store.sessions() as session:
                    folder = materialize(session=session, version_id=ref.id, cache_dir=cache_dir)
                return build(folder)

            try:
                scorer = await run_in_threadpool(load)
            except Exception as exc:
                failed = ref.id
                log.error("new champion refused", version=ref.version, reason=str(exc))
                continue
            again = await run_in_threadpool(champion_ref, store, name)
            if again is None or again.id != ref.id:
                continue  # changed again while loading: the next poll takes the new one
            stage(scorer, ref.serving_from.timestamp())
            if await pause(stop, (ref.serving_from - datetime.now(UTC)).total_seconds()):
                return
            settle()
            serving_id = ref.id
            log.info("model swapped", version=ref.version)
        except Exception as exc:  # a database hiccup: keep serving, poll again
            log.error("champion poll failed", error_type=type(exc).__name__)
