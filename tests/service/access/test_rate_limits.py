"""Rate limits: per key on the API (429 with Retry-After, nothing done), per address on sign-in."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import ValidationError

from service.access import service as access
from service.access.rate_limits import RateLimits
from service.access.service import Principal
from service.config import Settings
from service.main import create_app

pytestmark = pytest.mark.anyio
TEXT = "My parcel has not arrived and nobody answers my e-mails."


@pytest.fixture
async def limited(
    settings: Settings, tmp_path: object
) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    app = create_app(
        settings.model_copy(
            update={
                "database_url": f"sqlite:///{tmp_path}/triage.db",
                "auth": "required",
                "rate_limit_helpdesk": "3/minute",
                "sign_in_rate_limit": "2/minute",
            }
        )
    )
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        with app.state.store.sessions() as session:
            keys = {
                name: access.create_key(session=session, name=name, role=role)
                for name, role in (
                    ("desk-1", "helpdesk"),
                    ("desk-2", "helpdesk"),
                    ("ann", "agent"),
                    ("ops", "ops"),
                )
            }
        yield client, keys


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_a_key_over_its_limit_gets_429_and_nothing_is_stored(
    limited: tuple[httpx.AsyncClient, dict[str, str]],
) -> None:
    client, keys = limited
    for n in range(3):
        r = await client.post(
            "/v1/score", json={"id": f"R-{n}", "text": TEXT}, headers=bearer(keys["desk-1"])
        )
        assert r.status_code == 200
    refused = await client.post("/v1/score", json={"id": "R-3", "text": TEXT}, headers=bearer(keys["desk-1"]))
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    # Counted per key: another helpdesk key still has its own three, and ops its own limit.
    other = await client.post("/v1/score", json={"id": "R-4", "text": TEXT}, headers=bearer(keys["desk-2"]))
    assert other.status_code == 200
    assert (await client.get("/v1/tickets/R-3", headers=bearer(keys["ops"]))).status_code == 404
    assert (await client.get("/v1/tickets/R-2", headers=bearer(keys["ops"]))).status_code == 200


async def _sign_in(client: httpx.AsyncClient, api_key: str) -> httpx.Response:
    form = await client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token
    return await client.post("/login", data={"csrf_token": token.group(1), "api_key": api_key})


async def test_failed_sign_ins_are_limited_per_address(
    limited: tuple[httpx.AsyncClient, dict[str, str]],
) -> None:
    client, keys = limited
    assert (await _sign_in(client, "tt_guess-1")).status_code == 401
    assert (await _sign_in(client, "tt_guess-2")).status_code == 401
    # Past the limit even the right key waits: otherwise guessing would only be slowed for wrong keys.
    blocked = await _sign_in(client, keys["ann"])
    assert blocked.status_code == 429
    assert "Too many failed sign-ins" in blocked.text
    assert int(blocked.headers["Retry-After"]) >= 1


async def test_successful_sign_ins_are_not_counted(limited: tuple[httpx.AsyncClient, dict[str, str]]) -> None:
    client, keys = limited
    for _ in range(3):
        r = await _sign_in(client, keys["ann"])
        assert r.status_code == 303, r.text


def test_a_limit_that_does_not_parse_stops_the_settings() -> None:
    with pytest.raises(ValidationError, match="rate_limit_helpdesk"):
        Settings(rate_limit_helpdesk="plenty")


REDIS_URL = os.environ.get("TRIAGE_TEST_REDIS_URL", "redis://127.0.0.1:6379")


def _redis_reason() -> str | None:
    try:
        import redis
    except ImportError:
        return "the redis package is not installed (pip install -e '.[redis]')"
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        return f"Redis not reachable at {REDIS_URL}: {exc}"
    return None


async def test_workers_share_counters_through_redis() -> None:
    """Two limiters stand for two workers (or replicas): with Redis they count one key together."""
    reason = _redis_reason()
    if reason is not None:
        pytest.skip(reason)
    workers = [
        RateLimits(
            per_role={"helpdesk": "4/minute", "agent": "1/second", "lead": "1/second", "ops": "1/second"},
            sign_in="2/minute",
            storage_uri=REDIS_URL,
        )
        for _ in range(2)
    ]
    desk = Principal(name=f"desk-{uuid.uuid4().hex}", role="helpdesk")  # fresh counters every run
    answers = [await workers[n % 2].over_limit(desk) for n in range(5)]
    assert answers[:4] == [None] * 4
    assert answers[4] is not None and 1 <= answers[4] <= 60
    address = f"192.0.2.{uuid.uuid4().int % 250}-{uuid.uuid4().hex}"
    workers[0].sign_in_failed(address)
    workers[1].sign_in_failed(address)
    assert workers[0].sign_in_blocked(address) is not None
    for worker in workers:
        await worker.aclose()


async def test_a_counter_store_that_is_down_lets_requests_through(capsys: pytest.CaptureFixture[str]) -> None:
    """Redis unreachable: no 500s and no refusals, one warning (keys are still checked elsewhere)."""
    pytest.importorskip("redis", reason="the redis package is not installed (pip install -e '.[redis]')")
    limits = RateLimits(
        per_role={"helpdesk": "1/minute", "agent": "1/second", "lead": "1/second", "ops": "1/second"},
        sign_in="1/minute",
        storage_uri="redis://127.0.0.1:1",  # nothing listens on port 1
    )
    desk = Principal(name="desk", role="helpdesk")
    assert [await limits.over_limit(desk) for _ in range(3)] == [None, None, None]
    limits.sign_in_failed("192.0.2.1")
    assert limits.sign_in_blocked("192.0.2.1") is None
    await limits.aclose()
    warnings = [line for line in capsys.readouterr().out.splitlines() if "rate limits not applied" in line]
    assert len(warnings) == 1
