"""Retries against a mock transport: what is retried, how often, after how long, with which key,
and the typed error when the client gives up; plus one real timeout on a silent socket."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from tests.client.conftest import SCORED
from triage_client import (
    AsyncTriageClient,
    ConflictError,
    InvalidRequestError,
    RateLimitedError,
    RetryPolicy,
    ServerError,
    Ticket,
    TriageClient,
    TriageConnectionError,
    TriageTimeoutError,
    UnexpectedResponseError,
)
from triage_client import async_client as async_module
from triage_client import client as sync_module
from triage_client.retry import retry_after_seconds

Answer = httpx.Response | Exception
FEEDBACK = {
    "id": 1,
    "ticket_id": "T-1",
    "kind": "agent",
    "flag_correct": True,
    "corrections": {},
    "note": None,
    "created_at": "2026-11-27T10:00:00Z",
}
TICKET = Ticket(id="T-1", text="My mother passed away and you keep sending her bills.")


def error(status: int, code: str, headers: dict[str, str] | None = None) -> httpx.Response:
    body = {"error": {"code": code, "message": f"said {code}"}, "request_id": "r-1"}
    return httpx.Response(status, json=body, headers=headers)


class Script:
    """A mock service: answers (or raises) from a script, and keeps every request it was sent."""

    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def keys(self) -> list[str | None]:
        return [r.headers.get("Idempotency-Key") for r in self.requests]


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The waits between attempts, recorded instead of slept (sync and async clients)."""
    slept: list[float] = []

    async def asleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(sync_module, "sleep", slept.append)
    monkeypatch.setattr(async_module, "sleep", asleep)
    return slept


@pytest.fixture
def make_client() -> Iterator[Callable[..., TriageClient]]:
    made: list[TriageClient] = []

    def make(script: Script, **options: object) -> TriageClient:
        client = TriageClient("http://triage.test", transport=httpx.MockTransport(script), **options)  # type: ignore[arg-type]
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def test_a_score_is_retried_after_429_and_503_with_one_key_and_one_body(
    make_client: Callable[..., TriageClient], waits: list[float]
) -> None:
    script = Script(
        error(429, "rate_limited", {"Retry-After": "2"}),
        error(503, "model_not_ready"),
        httpx.Response(200, json=SCORED),
    )
    result = make_client(script, retry=RetryPolicy(backoff_base=0.5)).score(TICKET)
    assert result.route == "human" and result.reasons[0].rule == "bereavement"
    assert len(script.requests) == 3
    keys = script.keys()
    assert keys[0] and len(set(keys)) == 1
    assert len({r.content for r in script.requests}) == 1
    assert json.loads(script.requests[0].content) == {"id": "T-1", "text": TICKET.text}
    assert waits[0] == 2.0  # Retry-After, honoured
    assert 0 <= waits[1] <= 1.0  # the second backoff: jitter under base * 2


def test_each_logical_call_gets_its_own_key_unless_one_is_given(
    make_client: Callable[..., TriageClient],
) -> None:
    script = Script(*(httpx.Response(200, json=SCORED) for _ in range(3)))
    client = make_client(script)
    client.score(TICKET)
    client.score(TICKET)
    client.score(TICKET, idempotency_key="desk-T-1-v3")
    keys = script.keys()
    assert keys[0] != keys[1] and keys[2] == "desk-T-1-v3"


def test_gives_up_after_max_attempts_with_the_services_error(
    make_client: Callable[..., TriageClient], waits: list[float]
) -> None:
    script = Script(*(error(503, "model_not_ready") for _ in range(3)))
    with pytest.raises(ServerError) as caught:
        make_client(script, retry=RetryPolicy(max_attempts=3)).score(TICKET)
    assert (caught.value.status_code, caught.value.code, caught.value.message) == (
        503,
        "model_not_ready",
        "said model_not_ready",
    )
    assert caught.value.request_id == "r-1" and caught.value.attempts == 3
    assert len(script.requests) == 3 and len(set(script.keys())) == 1 and len(waits) == 2
    assert all(0 <= w <= 0.5 * 2**i for i, w in enumerate(waits))


def test_retry_after_is_capped_and_read_as_a_date(
    make_client: Callable[..., TriageClient], waits: list[float]
) -> None:
    soon = format_datetime(datetime.now(UTC) + timedelta(seconds=20), usegmt=True)
    script = Script(
        error(429, "rate_limited", {"Retry-After": "3600"}),
        error(429, "rate_limited", {"Retry-After": soon}),
        error(429, "rate_limited", {"Retry-After": "soon"}),
    )
    with pytest.raises(RateLimitedError) as caught:
        make_client(script, retry=RetryPolicy(max_attempts=3, retry_after_max=30)).score(TICKET)
    assert waits[0] == 30.0 and 15 <= waits[1] <= 20
    assert caught.value.attempts == 3 and len(script.requests) == 3
    assert retry_after_seconds(error(429, "x", {"Retry-After": "soon"})) is None


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [(422, "validation_error", InvalidRequestError), (409, "conflict", ConflictError)],
)
def test_client_errors_are_not_retried(
    make_client: Callable[..., TriageClient], status: int, code: str, kind: type[Exception]
) -> None:
    script = Script(error(status, code))
    with pytest.raises(kind):
        make_client(script).score(TICKET)
    assert len(script.requests) == 1


def test_a_408_is_retried(make_client: Callable[..., TriageClient], waits: list[float]) -> None:
    script = Script(error(408, "http_error"), httpx.Response(200, json=SCORED))
    assert make_client(script).score(TICKET).id == "T-1"
    assert len(script.requests) == 2


def test_a_lost_answer_is_retried_for_a_score_but_not_for_feedback(
    make_client: Callable[..., TriageClient], waits: list[float]
) -> None:
    script = Script(
        httpx.ReadTimeout("slow"),
        httpx.Response(502, text="<html>bad gateway</html>"),
        httpx.Response(200, json=SCORED),
    )
    assert make_client(script).score(TICKET).id == "T-1"
    assert len(script.requests) == 3 and len(set(script.keys())) == 1

    # Feedback may have been stored before its answer was lost: sending it again would store it twice.
    for lost in (httpx.ReadTimeout("slow"), httpx.Response(502, text="<html>bad gateway</html>")):
        script = Script(lost)
        with pytest.raises((TriageTimeoutError, ServerError)) as caught:
            make_client(script).give_feedback(1, flag_correct=True)
        assert len(script.requests) == 1 and caught.value.attempts == 1
        assert script.requests[0].headers.get("Idempotency-Key") is None


def test_a_request_that_never_left_is_retried_even_when_not_idempotent(
    make_client: Callable[..., TriageClient], waits: list[float]
) -> None:
    script = Script(
        httpx.ConnectError("refused"), error(503, "model_not_ready"), httpx.Response(201, json=FEEDBACK)
    )
    assert make_client(script).give_feedback(1, flag_correct=True).kind == "agent"
    assert len(script.requests) == 3


def test_a_proxy_error_page_becomes_a_typed_error(make_client: Callable[..., TriageClient]) -> None:
    script = Script(httpx.Response(502, text="<html>bad gateway</html>"))
    with pytest.raises(ServerError) as caught:
        make_client(script, retry=RetryPolicy(max_attempts=1)).healthz()
    assert (caught.value.status_code, caught.value.code, caught.value.message) == (
        502,
        "http_error",
        "Bad Gateway",
    )


@pytest.mark.parametrize("body", [b'{"route": "maybe"}', b"<html>", b'{"results": 3}'])
def test_an_unreadable_success_is_an_unexpected_response(
    make_client: Callable[..., TriageClient], body: bytes
) -> None:
    script = Script(httpx.Response(200, content=body), httpx.Response(200, content=body))
    client = make_client(script)
    for call in (lambda: client.score(TICKET), lambda: client.score_batch([TICKET])):
        with pytest.raises(UnexpectedResponseError) as caught:
            call()
        assert caught.value.__cause__ is not None


def test_loading_is_an_answer_of_readyz_not_a_retry(make_client: Callable[..., TriageClient]) -> None:
    script = Script(httpx.Response(503, json={"status": "loading"}))
    readiness = make_client(script).readyz()
    assert not readiness.ready and readiness.model_version is None
    assert len(script.requests) == 1


def test_retry_policy_bounds() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="negative"):
        RetryPolicy(backoff_base=-1)
    policy = RetryPolicy(backoff_base=1, backoff_max=4)
    assert all(0 <= policy.delay(attempt=10, response=None) <= 4 for _ in range(50))


def test_gives_up_on_a_service_that_never_answers() -> None:
    # A socket that listens but never accepts: the kernel completes the handshake, nobody answers.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        policy = RetryPolicy(max_attempts=2, backoff_base=0)
        with (
            TriageClient(url, timeout=0.2, retry=policy) as client,
            pytest.raises(TriageTimeoutError) as caught,
        ):
            client.healthz()
    assert caught.value.attempts == 2 and isinstance(caught.value.__cause__, httpx.ReadTimeout)


@pytest.mark.anyio
async def test_the_async_client_retries_alike(waits: list[float]) -> None:
    script = Script(error(503, "model_not_ready"), httpx.Response(200, json=SCORED))
    async with AsyncTriageClient("http://triage.test", transport=httpx.MockTransport(script)) as client:
        assert (await client.score(TICKET)).route == "human"
    assert len(script.requests) == 2 and len(set(script.keys())) == 1 and len(waits) == 1

    script = Script(*(httpx.ConnectError("refused") for _ in range(4)))
    async with AsyncTriageClient("http://triage.test", transport=httpx.MockTransport(script)) as client:
        with pytest.raises(TriageConnectionError) as caught:
            await client.claim(3, agent="ann")
    assert caught.value.attempts == 4 and len(script.requests) == 4
    assert not isinstance(caught.value, TriageTimeoutError)


@pytest.mark.parametrize(
    ("failure", "kind"),
    [
        (httpx.UnsupportedProtocol("ftp"), TriageConnectionError),
        (httpx.ProxyError("refused by the proxy"), TriageConnectionError),
        (httpx.DecodingError("bad gzip"), UnexpectedResponseError),
    ],
)
def test_failures_that_a_retry_cannot_mend_are_raised_at_once(
    make_client: Callable[..., TriageClient], failure: Exception, kind: type[Exception]
) -> None:
    script = Script(failure)
    with pytest.raises(kind) as caught:
        make_client(script).get_ticket("T-1")
    assert len(script.requests) == 1 and caught.value.__cause__ is failure
