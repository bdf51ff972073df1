"""When a call is sent again, and after how long.

A call is retried only when sending it again cannot do twice what it did once:

- when the service surely did not act on it: the connection was never made (connect error or
  timeout, no free connection in the pool), or the answer says it was refused before any work
  (408, 429, 503; the service's 503 is "model not loaded yet");
- and, for calls that are safe to repeat (reads, erasure, claiming, and scoring, which carries an
  ``Idempotency-Key`` so the service replays its first answer), also when the answer was lost
  (read timeout, broken connection) or came from a gateway that may have passed the request on
  (502, 504).

The wait is exponential with full jitter (uniform between 0 and base * 2**(attempt-1), capped),
so clients that failed together do not come back together; a ``Retry-After`` header overrides
it, capped so a misconfigured proxy cannot park a caller for an hour. A few lines of our own
rather than tenacity: the decision needs the call's idempotency and the answer's headers, which
is most of the code either way, and the client keeps httpx and pydantic as its only dependencies.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

REFUSED_STATUSES = frozenset({408, 429, 503})
GATEWAY_STATUSES = frozenset({502, 504})
# The request never left the client: repeating it cannot repeat its effect.
UNSENT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# The answer was lost on the way (a bad URL, a proxy refusing or an undecodable body is not retried).
LOST_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


@dataclass(frozen=True)
class RetryPolicy:
    """How many times a call is sent at most, and the bounds of the waits between attempts.

    ``RetryPolicy(max_attempts=1)`` turns retries off.
    """

    max_attempts: int = 4
    backoff_base: float = 0.5
    backoff_max: float = 8.0
    retry_after_max: float = 30.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if min(self.backoff_base, self.backoff_max, self.retry_after_max) < 0:
            raise ValueError("backoff_base, backoff_max and retry_after_max must not be negative")

    def delay(self, *, attempt: int, response: httpx.Response | None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (counted from 1)."""
        if response is not None:
            after = retry_after_seconds(response)
            if after is not None:
                return min(after, self.retry_after_max)
        ceiling = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        return random.uniform(0, ceiling)  # noqa: S311 (jitter, not a secret)


def retry_after_seconds(response: httpx.Response) -> float | None:
    """The ``Retry-After`` header in seconds (delta-seconds or an HTTP date), None when absent or unreadable."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def retries_status(status: int, *, idempotent: bool) -> bool:
    """Whether an answer with this status is worth sending the call again for."""
    return status in REFUSED_STATUSES or (idempotent and status in GATEWAY_STATUSES)


def retries_error(error: httpx.RequestError, *, idempotent: bool) -> bool:
    """Whether a call that got no answer because of ``error`` may be sent again."""
    return isinstance(error, UNSENT_ERRORS) or (idempotent and isinstance(error, LOST_ERRORS))
