"""Group commit's one shared step: take what is queued for the next transaction.

The ticket store and the webhook inbox each have one writer thread that commits everything
queued meanwhile in one transaction; ``None`` on the queue tells the thread to stop after it.
"""

from __future__ import annotations

import queue
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def take_group(
    pending: queue.Queue[T | None], first: T, *, limit: int, size: Callable[[T], int] = lambda _: 1
) -> tuple[list[T], bool]:
    """``first`` and whatever else is queued, up to ``limit`` in all; True when the stop sentinel
    was taken, so that the thread stops once this group is committed."""
    group, total = [first], size(first)
    while total < limit:
        try:
            more = pending.get_nowait()
        except queue.Empty:
            break
        if more is None:
            return group, True
        group.append(more)
        total += size(more)
    return group, False
