"""Rate limits: per key on the API (429 with Retry-After, nothing done), per address on sign-in."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import ValidationError

from service.access import service as access
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
