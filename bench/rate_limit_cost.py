"""What counting a keyed request against its rate limit costs, in memory, against the key check
every keyed request already makes (the cached lookup of its hash), measured in the same run.

    python bench/rate_limit_cost.py [--repeats 5] [--calls 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import time

from common import machine, median

from service.access.rate_limits import RateLimits
from service.access.service import KeyChecker, Principal, digest


async def per_call_us(fn: object, calls: int, awaited: bool) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        if awaited:
            await fn()  # type: ignore[operator]
        else:
            fn()  # type: ignore[operator]
    return (time.perf_counter() - started) / calls * 1e6


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--calls", type=int, default=20_000)
    args = parser.parse_args()
    limits = RateLimits(
        per_role={
            "helpdesk": "1000000000/second",
            "agent": "1/second",
            "lead": "1/second",
            "ops": "1/second",
        },
        sign_in="10/minute",
        storage_uri="memory://",
    )
    desk = Principal(name="desk", role="helpdesk")
    checker = KeyChecker(sessions=None)  # type: ignore[arg-type]  # only the cache is timed
    key = "tt_" + "k" * 43
    checker._cache[digest(key)] = (desk, float("inf"))
    counted, looked_up = [], []
    for _ in range(args.repeats):
        counted.append(await per_call_us(lambda: limits.over_limit(desk), args.calls, True))
        looked_up.append(await per_call_us(lambda: checker.cached(key), args.calls, False))
    print(f"machine: {machine()}")
    print(f"medians of {args.repeats} x {args.calls:,} calls")
    print(f"  key check, cached (reference): {median(looked_up):.2f} us")
    print(
        f"  rate-limit count, in memory:   {median(counted):.2f} us  ({median(counted) / median(looked_up):.1f}x)"
    )


if __name__ == "__main__":
    asyncio.run(main())
