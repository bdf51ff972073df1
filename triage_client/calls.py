"""Each endpoint as a ``Call``: the request to send and how to read its answer.

The sync and the async client only differ in how they send and wait, so everything else lives
here once: paths, bodies, which calls are safe to repeat, and turning an answer into a model or
a typed error. A body is serialised once per call, and a scoring call gets its
``Idempotency-Key`` here, once, so every attempt sends the same key with the same bytes.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from triage_client.errors import (
    TriageConnectionError,
    TriageError,
    TriageTimeoutError,
    UnexpectedResponseError,
    error_from_response,
)
from triage_client.retry import RetryPolicy, retries_error, retries_status
from triage_client.schemas import (
    BatchResults,
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

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
DEFAULT_RETRY = RetryPolicy()
USER_AGENT = "triage-client/0.1.0"
T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
Params = dict[str, str | int]


@dataclass(frozen=True)
class Call(Generic[T]):
    """One logical call: the same method, path, headers and body on every attempt."""

    method: str
    path: str
    read: Callable[[httpx.Response], T]
    content: bytes | None = None
    params: Params = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    idempotent: bool = False
    answers: frozenset[int] = frozenset()  # error statuses that are an answer, not a failure


def default_headers(api_key: str | None, extra: Mapping[str, str] | None) -> dict[str, str]:
    """The headers every request carries: the key as a bearer token, JSON both ways."""
    headers = {"Accept": "application/json", "User-Agent": USER_AGENT, **(extra or {})}
    if api_key is not None:
        headers["Authorization"] = f"Bearer {api_key}"
    return headers


def request_headers(call: Call[Any]) -> dict[str, str]:
    """The call's own headers, with the body's type when it has one."""
    return (
        {**call.headers, "Content-Type": "application/json"}
        if call.content is not None
        else dict(call.headers)
    )


def next_wait(
    call: Call[Any],
    policy: RetryPolicy,
    *,
    attempt: int,
    response: httpx.Response | None = None,
    error: httpx.RequestError | None = None,
) -> float | None:
    """Seconds to wait before sending ``call`` again after this attempt, or None to stop here."""
    if attempt >= policy.max_attempts:
        return None
    if error is not None:
        again = retries_error(error, idempotent=call.idempotent)
    else:
        again = (
            response is not None
            and response.status_code not in call.answers
            and retries_status(response.status_code, idempotent=call.idempotent)
        )
    return policy.delay(attempt=attempt, response=response) if again else None


def finish(call: Call[T], response: httpx.Response, *, attempts: int) -> T:
    """The call's result from its final answer, or the typed error it stands for."""
    if not (response.is_success or response.status_code in call.answers):
        raise error_from_response(response, attempts=attempts)
    try:
        return call.read(response)
    except ValidationError as exc:
        raise UnexpectedResponseError(
            f"{call.method} {call.path} answered {response.status_code} with a body this client cannot read",
            attempts=attempts,
        ) from exc


def request_failure(error: httpx.RequestError, call: Call[Any], *, attempts: int) -> TriageError:
    """The client's error for a call that got no usable answer."""
    kind: type[TriageError] = UnexpectedResponseError  # an answer httpx could not decode, too many redirects
    if isinstance(error, httpx.TimeoutException):
        kind = TriageTimeoutError
    elif isinstance(error, httpx.TransportError):
        kind = TriageConnectionError
    return kind(f"{call.method} {call.path}: {type(error).__name__}: {error}", attempts=attempts)


def _model(model: type[M]) -> Callable[[httpx.Response], M]:
    return lambda response: model.model_validate_json(response.content)


def _body(values: Mapping[str, Any]) -> bytes:
    # None means "not given": the service applies its own default.
    return json.dumps({k: v for k, v in values.items() if v is not None}).encode()


def _params(**values: str | int | None) -> Params:
    return {k: v for k, v in values.items() if v is not None}


def _segment(value: str) -> str:
    return quote(value, safe="")


def _key(idempotency_key: str | None) -> dict[str, str]:
    return {"Idempotency-Key": idempotency_key or uuid.uuid4().hex}


def score(ticket: Ticket, *, idempotency_key: str | None) -> Call[ScoreResult]:
    return Call(
        "POST",
        "/v1/score",
        _model(ScoreResult),
        content=ticket.model_dump_json(exclude_none=True).encode(),
        headers=_key(idempotency_key),
        idempotent=True,
    )


def score_batch(tickets: Sequence[Ticket], *, idempotency_key: str | None) -> Call[list[ScoreResult]]:
    body = {"tickets": [t.model_dump(mode="json", exclude_none=True) for t in tickets]}
    return Call(
        "POST",
        "/v1/score/batch",
        lambda response: BatchResults.model_validate_json(response.content).results,
        content=_body(body),
        headers=_key(idempotency_key),
        idempotent=True,
    )


def get_ticket(ticket_id: str, *, source: str | None) -> Call[StoredTicket]:
    return Call(
        "GET",
        f"/v1/tickets/{_segment(ticket_id)}",
        _model(StoredTicket),
        params=_params(source=source),
        idempotent=True,
    )


def erase_ticket(ticket_id: str, *, source: str | None) -> Call[None]:
    return Call(
        "DELETE",
        f"/v1/tickets/{_segment(ticket_id)}",
        lambda response: None,
        params=_params(source=source),
        idempotent=True,
    )


def report_missed(
    ticket_id: str,
    *,
    source: str | None,
    corrections: Mapping[Dimension, Correction] | None,
    note: str | None,
    reporter: str | None,
) -> Call[Feedback]:
    body = {
        "id": ticket_id,
        "source": source,
        "corrections": dict(corrections) if corrections is not None else None,
        "note": note,
        "reporter": reporter,
    }
    return Call("POST", "/v1/feedback", _model(Feedback), content=_body(body))


def report_outcome(
    ticket_id: str, *, source: str | None, csat: int | None, reopened: bool | None
) -> Call[OutcomeReport]:
    body = {"id": ticket_id, "source": source, "csat": csat, "reopened": reopened}
    return Call("POST", "/v1/outcomes", _model(OutcomeReport), content=_body(body))


def list_queue(
    *,
    status: Status | None,
    dimension: Dimension | None,
    language: str | None,
    priority: Priority | None,
    limit: int | None,
    cursor: str | None,
) -> Call[QueuePage]:
    params = _params(
        status=status, dimension=dimension, language=language, priority=priority, limit=limit, cursor=cursor
    )
    return Call("GET", "/v1/queue", _model(QueuePage), params=params, idempotent=True)


def get_item(item_id: int) -> Call[QueueItem]:
    return Call("GET", f"/v1/queue/{int(item_id)}", _model(QueueItem), idempotent=True)


def claim(item_id: int, *, agent: str | None, lease_seconds: int | None) -> Call[QueueItem]:
    # Claiming again as the same agent only renews the lease, so a lost answer may be retried.
    body = {"agent": agent, "lease_seconds": lease_seconds}
    return Call(
        "POST", f"/v1/queue/{int(item_id)}/claim", _model(QueueItem), content=_body(body), idempotent=True
    )


def release(item_id: int, *, agent: str | None) -> Call[QueueItem]:
    # Not repeated after a lost answer: the item would be released already, and the repeat a 403.
    return Call(
        "POST", f"/v1/queue/{int(item_id)}/release", _model(QueueItem), content=_body({"agent": agent})
    )


def resolve(item_id: int, *, outcome: Outcome, agent: str | None) -> Call[QueueItem]:
    body = {"agent": agent, "outcome": outcome}
    return Call("POST", f"/v1/queue/{int(item_id)}/resolve", _model(QueueItem), content=_body(body))


def give_feedback(
    item_id: int,
    *,
    flag_correct: bool,
    corrections: Mapping[Dimension, Correction] | None,
    note: str | None,
    agent: str | None,
) -> Call[Feedback]:
    body = {
        "agent": agent,
        "flag_correct": flag_correct,
        "corrections": dict(corrections) if corrections is not None else None,
        "note": note,
    }
    return Call("POST", f"/v1/queue/{int(item_id)}/feedback", _model(Feedback), content=_body(body))


def healthz() -> Call[Health]:
    return Call("GET", "/healthz", _model(Health), idempotent=True)


def readyz() -> Call[Readiness]:
    # A 503 here is the answer "still loading", not a failure to retry.
    return Call("GET", "/readyz", _model(Readiness), idempotent=True, answers=frozenset({503}))
