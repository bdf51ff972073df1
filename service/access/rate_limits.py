"""Rate limits with the ``limits`` library: per API key on the API, per address on sign-in.

Each key has its own sliding-window counter, at the limit configured for its role
(``TRIAGE_RATE_LIMIT_<ROLE>``, in the library's notation: ``50/second``, ``1000/minute``). A
request over the limit gets a 429 with ``Retry-After``; it is counted before any work is done, so a
refused request changes nothing. Only keyed callers are limited: the open mode has no keys.

Failed sign-ins on the agents' page are counted per client address
(``TRIAGE_SIGN_IN_RATE_LIMIT``): past the limit, even a right key waits, which is what makes
guessing keys slow. Successful sign-ins are not counted.

Counters live in each worker's memory by default, so with W workers a key may reach W times its
limit; ``TRIAGE_RATE_LIMIT_STORAGE`` (``redis://host:6379``, with the ``redis`` extra
installed) shares them between workers and replicas. When that store fails, requests go
through unlimited (keys are still checked) and a warning is logged once a minute.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse, strategies
from limits import aio as limits_aio
from limits.storage import storage_from_string

from service.access.service import ROLES, Principal, Role
from service.observability import logger


def parse_limit(value: str) -> RateLimitItem:
    """``value`` as a limit; raises ValueError with the library's reason when it is not one."""
    return parse(value)


def _retry_after(reset_time: float) -> int:
    return max(1, math.ceil(reset_time - time.time()))


class RateLimits:
    """The API's per-key limits (awaited on the event loop) and the sign-in limit (in a thread)."""

    def __init__(self, *, per_role: dict[Role, str], sign_in: str, storage_uri: str) -> None:
        async_uri = storage_uri if storage_uri.startswith("async+") else f"async+{storage_uri}"
        sync_uri = storage_uri.removeprefix("async+")
        # One Redis client library for both sides: redis-py (the `redis` extra) has an asyncio
        # client too, where the library's default for asyncio would be another package.
        options = {"implementation": "redispy"} if sync_uri.startswith("redis") else {}
        self._api = limits_aio.strategies.SlidingWindowCounterRateLimiter(
            storage_from_string(async_uri, **options)
        )
        self._sign_in = strategies.SlidingWindowCounterRateLimiter(storage_from_string(sync_uri))
        self._per_role = {role: parse_limit(per_role[role]) for role in ROLES}
        self._sign_in_limit = parse_limit(sign_in)
        self._warned_at = -math.inf

    async def over_limit(self, principal: Principal) -> int | None:
        """Count one request for the principal's key; the seconds to wait when it is over its limit."""
        if principal.role is None:
            return None
        item = self._per_role[principal.role]
        try:
            if await self._api.hit(item, "key", principal.name):
                return None
            stats = await self._api.get_window_stats(item, "key", principal.name)
        except Exception as exc:
            self._unavailable(exc)
            return None
        return _retry_after(stats.reset_time)

    def sign_in_blocked(self, address: str) -> int | None:
        """The seconds to wait when ``address`` has failed to sign in too often, else None."""
        try:
            if self._sign_in.test(self._sign_in_limit, "sign-in", address):
                return None
            stats = self._sign_in.get_window_stats(self._sign_in_limit, "sign-in", address)
        except Exception as exc:
            self._unavailable(exc)
            return None
        return _retry_after(stats.reset_time)

    def sign_in_failed(self, address: str) -> None:
        try:
            self._sign_in.hit(self._sign_in_limit, "sign-in", address)
        except Exception as exc:
            self._unavailable(exc)

    async def aclose(self) -> None:
        """Close the connections of a shared store (Redis); counters in memory need nothing."""
        # limits has no close of its own; its Redis storage keeps the client on its bridge.
        client = getattr(getattr(self._api.storage, "bridge", None), "storage", None)
        if client is not None:
            await client.aclose()

    def _unavailable(self, exc: Exception) -> None:
        # Fail open: a shared counter store that is down (Redis) must not turn every keyed request
        # into a 500; the keys are still checked. Said once a minute, not once a request.
        now = time.monotonic()
        if now - self._warned_at > 60:
            self._warned_at = now
            logger.warning("rate limits not applied: the counter store failed", error_type=type(exc).__name__)
