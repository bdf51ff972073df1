"""Keys and roles: every endpoint against every role; 401 without a key, 403 with the wrong one."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from service.access import service as access
from service.config import Settings
from service.main import create_app

pytestmark = pytest.mark.anyio
FLAGGED = "This is the third time I write. My mother passed away and you keep sending her bills."
ROLES = ("helpdesk", "agent", "lead", "ops")


@pytest.fixture
async def secured(
    settings: Settings, database_url: str
) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    app: FastAPI = create_app(settings.model_copy(update={"database_url": database_url, "auth": "required"}))
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://t") as c,
    ):
        with app.state.store.sessions() as session:
            keys = {role: access.create_key(session=session, name=f"{role}-1", role=role) for role in ROLES}  # type: ignore[arg-type]
        yield c, keys


def bearer(key: str | None) -> dict[str, str]:
    return {} if key is None else {"Authorization": f"Bearer {key}"}


async def test_every_endpoint_against_every_role(secured: tuple[httpx.AsyncClient, dict[str, str]]) -> None:
    client, keys = secured
    ops = bearer(keys["ops"])
    assert (
        await client.post("/v1/score", json={"id": "A-1", "text": FLAGGED}, headers=ops)
    ).status_code == 200
    item_id = (await client.get("/v1/queue", headers=ops)).json()["items"][0]["id"]
    endpoints: list[tuple[str, str, dict[str, object] | None, set[str]]] = [
        ("POST", "/v1/score", {"text": FLAGGED}, {"helpdesk"}),
        ("POST", "/v1/score/batch", {"tickets": [{"text": FLAGGED}]}, {"helpdesk"}),
        ("GET", "/v1/tickets/A-1", None, {"helpdesk", "agent"}),
        ("POST", "/v1/feedback", {"id": "A-1"}, {"helpdesk"}),
        ("GET", "/v1/queue", None, {"agent"}),
        ("GET", f"/v1/queue/{item_id}", None, {"agent"}),
        ("POST", f"/v1/queue/{item_id}/claim", {}, {"agent"}),
        ("POST", f"/v1/queue/{item_id}/feedback", {"flag_correct": True}, {"agent"}),
        ("POST", f"/v1/queue/{item_id}/release", {}, {"agent"}),
        ("POST", "/v1/outcomes", {"id": "A-1", "csat": 4}, {"helpdesk"}),
        ("GET", "/v1/dashboard", None, {"lead"}),
        ("GET", "/v1/models", None, set()),
        ("GET", "/v1/models/tiny/1", None, set()),
        ("POST", "/v1/models/tiny/1/retire", {}, set()),
        ("DELETE", "/v1/tickets/A-1", None, set()),
    ]
    for method, path, body, allowed in endpoints:
        anonymous = await client.request(method, path, json=body)
        assert anonymous.status_code == 401, (method, path)
        assert anonymous.headers["WWW-Authenticate"] == "Bearer"
        assert anonymous.json()["error"]["code"] == "unauthorized"
        wrong = await client.request(method, path, json=body, headers=bearer("tt_not-a-key"))
        assert wrong.status_code == 401, (method, path)
        for role in ROLES:
            r = await client.request(method, path, json=body, headers=bearer(keys[role]))
            if role == "ops" or role in allowed:
                # Let through: whatever the outcome (409 for a claimed item, 403 not_holder for
                # ops releasing an agent's item), it is never a refusal of the role.
                assert r.status_code != 401, (method, path, role)
                assert r.status_code < 400 or r.json()["error"]["code"] != "forbidden", (
                    method,
                    path,
                    role,
                    r.text,
                )
            else:
                assert r.status_code == 403, (method, path, role, r.status_code)
                assert r.json()["error"]["code"] == "forbidden"
    for path in ("/healthz", "/readyz", "/metrics"):
        assert (await client.get(path)).status_code == 200


async def test_the_key_is_the_agent(secured: tuple[httpx.AsyncClient, dict[str, str]]) -> None:
    client, keys = secured
    await client.post("/v1/score", json={"id": "B-1", "text": FLAGGED}, headers=bearer(keys["helpdesk"]))
    agent = bearer(keys["agent"])
    item_id = (await client.get("/v1/queue", headers=agent)).json()["items"][0]["id"]
    claimed = await client.post(f"/v1/queue/{item_id}/claim", json={}, headers=agent)
    assert claimed.json()["claimed_by"] == "agent-1"
    other = await client.post(f"/v1/queue/{item_id}/release", json={"agent": "somebody"}, headers=agent)
    assert other.status_code == 403
    # The ops key is another person: it may not resolve what agent-1 holds.
    ops = await client.post(
        f"/v1/queue/{item_id}/resolve", json={"outcome": "resolved"}, headers=bearer(keys["ops"])
    )
    assert ops.status_code == 403
    done = await client.post(f"/v1/queue/{item_id}/resolve", json={"outcome": "resolved"}, headers=agent)
    assert done.json()["status"] == "resolved"


async def test_a_revoked_key_is_refused(
    secured: tuple[httpx.AsyncClient, dict[str, str]], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, keys = secured
    monkeypatch.setattr(access, "CACHE_SECONDS", 0.0)
    helpdesk = bearer(keys["helpdesk"])
    assert (await client.post("/v1/score", json={"text": FLAGGED}, headers=helpdesk)).status_code == 200
    transport = client._transport
    app = transport.app  # type: ignore[attr-defined]
    with app.state.store.sessions() as session:
        assert access.revoke_key(session=session, name="helpdesk-1")
    assert (await client.post("/v1/score", json={"text": FLAGGED}, headers=helpdesk)).status_code == 401


async def test_open_mode_needs_an_agent_name(client: httpx.AsyncClient) -> None:
    await client.post("/v1/score", json={"id": "O-1", "text": FLAGGED})
    item_id = (await client.get("/v1/queue")).json()["items"][0]["id"]
    r = await client.post(f"/v1/queue/{item_id}/claim", json={})
    assert r.status_code == 422 and r.json()["error"]["code"] == "agent_required"


def test_auth_required_refuses_to_start_without_storage(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"auth": "required", "storage": False}))

    async def start() -> None:
        async with app.router.lifespan_context(app):
            pass

    import asyncio

    with pytest.raises(RuntimeError, match="needs TRIAGE_STORAGE"):
        asyncio.run(start())
