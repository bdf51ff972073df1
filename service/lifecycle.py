"""The background loops' way to stop: an event they wait on instead of a cancellation.

A loop that is cancelled while its thread reads the database may leave that thread running
after shutdown, holding a connection of an engine that is being disposed. So each loop sleeps
with :func:`pause` and leaves when the stop event is set; shutdown sets it and waits for them.
"""

from __future__ import annotations

import asyncio
import contextlib


async def pause(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep ``seconds`` or until ``stop`` is set; True when it is time to stop."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=max(seconds, 0))
    return stop.is_set()
