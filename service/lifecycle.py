"""What a worker does around its life: background loops that stop on an event, and a heap that
garbage collection leaves alone while it serves.

A loop that is cancelled while its thread reads the database may leave that thread running
after shutdown, holding a connection of an engine that is being disposed. So each loop sleeps
with :func:`pause` and leaves when the stop event is set; shutdown sets it and waits for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import threading
from collections.abc import Iterator

# Young collections start after this many new container objects rather than CPython's 700.
YOUNG_COLLECTION_THRESHOLD = 20_000
# Apps serving in this process (the tests run several at once): the first freezes, the last thaws.
_lock = threading.Lock()
_serving = 0
_threshold = gc.get_threshold()


async def pause(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep ``seconds`` or until ``stop`` is set; True when it is time to stop."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=max(seconds, 0))
    return stop.is_set()


@contextlib.contextmanager
def frozen_heap() -> Iterator[None]:
    """Leave what start-up loaded out of garbage collection while the worker serves.

    The model, numba, scikit-learn and SQLAlchemy leave ~250,000 objects that live as long as
    the worker, and a full collection scans them all (0.3 s on our 2-core VM). Requests that
    wait for their commit keep their objects alive across loop iterations: under load with
    storage on, one worker ran ~90 young and a full collection or two every 10 s, a tenth of its
    time (counted with ``gc.callbacks``), against 4 young ones with storage off. Frozen, the
    start-up heap is skipped; with a higher first threshold most of a request's objects are
    freed before a young collection has to look at them. Both are undone when the last app serving in
    the process stops, so that one started later (the tests do) collects what the last one left.
    """
    global _serving, _threshold
    with _lock:
        _serving += 1
        if _serving == 1:
            _threshold = gc.get_threshold()
            gc.collect()
            gc.freeze()
            gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, *_threshold[1:])
    try:
        yield
    finally:
        with _lock:
            _serving -= 1
            if _serving == 0:
                gc.set_threshold(*_threshold)
                gc.unfreeze()
