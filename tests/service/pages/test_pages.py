"""The agents' page over HTTP: sign-in, sessions, CSRF, the buttons, errors and the empty state."""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI

from service.access import service as access
from service.config import Settings
from service.main import create_app
from service.pages.web import HTMX, STATIC_DIR

pytestmark = pytest.mark.anyio
FLAGGED = "This is the third time I write. My mother passed away and you keep sending her bills."
HX = {"HX-Request": "true"}


@dataclass
class Site:
    client: httpx.AsyncClient
    app: FastAPI
    keys: dict[str, str]

    async def flag(self, ticket_id: str, text: str = FLAGGED) -> int:
        r = await self.client.post(
            "/v1/score",
            json={"id": ticket_id, "text": text},
            headers={"Authorization": f"Bearer {self.keys['desk']}"},
        )
        assert r.status_code == 200 and r.json()["route"] == "human"
        items = await self.client.get(
            "/v1/queue", headers={"Authorization": f"Bearer {self.keys['olga']}"}, params={"status": "open"}
        )
        return int(next(i["id"] for i in items.json()["items"] if i["ticket_id"] == ticket_id))


@pytest.fixture
async def site(settings: Settings, database_url: str) -> AsyncIterator[Site]:
    app = create_app(settings.model_copy(update={"database_url": database_url, "auth": "required"}))
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://t") as client,
    ):
        with app.state.store.sessions() as session:
            keys = {
                name: access.create_key(session=session, name=name, role=role)  # type: ignore[arg-type]
                for role, name in (("helpdesk", "desk"), ("agent", "ann"), ("ops", "olga"), ("agent", "bob"))
            }
        yield Site(client, app, keys)


def csrf_of(page: str) -> str:
    found = re.search(r'"X-CSRF-Token": "([^"]+)"', page)
    assert found, "the page carries no CSRF token"
    return found.group(1)


async def sign_in(client: httpx.AsyncClient, *, api_key: str = "", name: str = "") -> str:
    """Sign in through the form; returns the queue page's CSRF token."""
    form = await client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token
    r = await client.post(
        "/login", data={"csrf_token": token.group(1), "api_key": api_key, "name": name, "next": "/queue"}
    )
    assert r.status_code == 303 and r.headers["location"] == "/queue", r.text
    queue = await client.get("/queue")
    assert queue.status_code == 200
    return csrf_of(queue.text)


async def test_pages_need_a_session_and_send_you_back_after_sign_in(site: Site) -> None:
    r = await site.client.get("/queue?priority=high")
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/queue%3Fpriority%3Dhigh"
    htmx = await site.client.post("/queue/1/claim", headers=HX)
    assert htmx.headers["HX-Redirect"].startswith("/login")
    login = await site.client.get("/login")
    assert 'for="api_key">API key</label>' in login.text
    assert login.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert login.headers["X-Frame-Options"] == "DENY"


async def test_sign_in_refusals(site: Site) -> None:
    client = site.client
    form = await client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
    unknown = await client.post("/login", data={"csrf_token": token, "api_key": "tt_nope"})
    assert unknown.status_code == 401 and "unknown or revoked" in unknown.text
    helpdesk = await client.post("/login", data={"csrf_token": token, "api_key": site.keys["desk"]})
    assert helpdesk.status_code == 403 and "helpdesk role" in helpdesk.text
    forged = await client.post("/login", data={"csrf_token": "forged", "api_key": site.keys["ann"]})
    assert forged.status_code == 403 and "expired" in forged.text
    assert "triage_session" not in client.cookies
    away = await client.post(
        "/login", data={"csrf_token": token, "api_key": site.keys["ann"], "next": "//evil.example/"}
    )
    assert away.status_code == 303 and away.headers["location"] == "/queue"
    cookie = away.headers["set-cookie"]
    assert "triage_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie


async def test_claim_release_resolve_with_feedback_from_the_page(site: Site) -> None:
    item_id = await site.flag("W-1")
    csrf = await sign_in(site.client, api_key=site.keys["ann"])
    page = (await site.client.get("/queue")).text
    assert f'id="item-{item_id}"' in page and "<mark" in page and "badge dim-" in page
    headers = {**HX, "X-CSRF-Token": csrf}

    claimed = await site.client.post(f"/queue/{item_id}/claim", headers=headers)
    assert claimed.status_code == 200 and "Release" in claimed.text and "Claimed" in claimed.text
    released = await site.client.post(f"/queue/{item_id}/release", headers=headers)
    assert ">Claim</button>" in released.text
    await site.client.post(f"/queue/{item_id}/claim", headers=headers)
    no_outcome = await site.client.post(f"/queue/{item_id}/resolve", headers=headers, data={"outcome": "x"})
    assert no_outcome.status_code == 422 and no_outcome.headers["HX-Retarget"] == "#messages"
    half = await site.client.post(
        f"/queue/{item_id}/resolve", headers=headers, data={"outcome": "resolved", "note": "hm"}
    )
    assert half.status_code == 422 and "yes or no" in half.text
    done = await site.client.post(
        f"/queue/{item_id}/resolve",
        headers=headers,
        data={"outcome": "not_needed", "flag": "no", "complex": "0", "note": "routine after all"},
    )
    assert done.status_code == 200 and f'id="item-{item_id}"' not in done.text
    assert "Resolved, with your feedback." in done.text
    api = await site.client.get(
        f"/v1/queue/{item_id}", headers={"Authorization": f"Bearer {site.keys['olga']}"}
    )
    assert api.json()["status"] == "resolved" and api.json()["outcome"] == "not_needed"
    detail = await site.client.get(f"/queue/{item_id}")
    assert "did not need a person; complex: no" in detail.text and "routine after all" in detail.text
    assert "Resolved (not needed) by ann" in detail.text
    assert "Nothing waiting" in (await site.client.get("/queue")).text


async def test_changes_need_the_csrf_token(site: Site) -> None:
    item_id = await site.flag("C-1")
    await sign_in(site.client, api_key=site.keys["ann"])
    for headers in ({**HX}, {**HX, "X-CSRF-Token": "wrong"}):
        r = await site.client.post(f"/queue/{item_id}/claim", headers=headers)
        assert r.status_code == 403 and "out of date" in r.text
    api = await site.client.get(
        f"/v1/queue/{item_id}", headers={"Authorization": f"Bearer {site.keys['olga']}"}
    )
    assert api.json()["status"] == "open"


async def test_another_agents_item_gives_a_message_and_the_item_as_it_stands(site: Site) -> None:
    item_id = await site.flag("T-1")
    bob = {"Authorization": f"Bearer {site.keys['bob']}"}
    assert (await site.client.post(f"/v1/queue/{item_id}/claim", json={}, headers=bob)).status_code == 200
    csrf = await sign_in(site.client, api_key=site.keys["ann"])
    page = (await site.client.get("/queue")).text
    assert "Claimed by bob until" in page
    r = await site.client.post(f"/queue/{item_id}/claim", headers={**HX, "X-CSRF-Token": csrf})
    assert r.status_code == 409 and "claimed by another agent" in r.text
    assert 'hx-swap-oob="true"' in r.text and "Claimed by bob" in r.text
    r = await site.client.post(
        f"/queue/{item_id}/resolve", headers={**HX, "X-CSRF-Token": csrf}, data={"outcome": "resolved"}
    )
    assert r.status_code == 403 and "not held by &#39;ann&#39;" in r.text


async def test_sign_out_and_revoked_keys_end_the_session(site: Site) -> None:
    csrf = await sign_in(site.client, api_key=site.keys["ann"])
    out = await site.client.post("/logout", data={"csrf_token": csrf})
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert (await site.client.get("/queue")).status_code == 303
    await sign_in(site.client, api_key=site.keys["ann"])
    with site.app.state.store.sessions() as session:
        access.revoke_key(session=session, name="ann")
    assert (await site.client.get("/queue")).status_code == 303


async def test_filters_detail_and_feedback_on_the_detail_page(site: Site) -> None:
    item_id = await site.flag("F-1")
    csrf = await sign_in(site.client, api_key=site.keys["olga"])
    fragment = await site.client.get(
        "/queue", params={"status": "open", "language": "nl"}, headers={**HX, "HX-Target": "items"}
    )
    assert fragment.text.startswith('<section id="items"') and f"item-{item_id}" not in fragment.text
    assert "Nothing waiting" in fragment.text
    everything = await site.client.get("/queue", params={"status": "bogus", "dimension": "bogus"})
    assert f"item-{item_id}" in everything.text
    detail = await site.client.get(f"/queue/{item_id}")
    assert "Why it was flagged" in detail.text and "None yet." in detail.text
    missing = await site.client.get("/queue/999999")
    assert missing.status_code == 404 and "no queue item 999999" in missing.text
    headers = {**HX, "X-CSRF-Token": csrf}
    refused = await site.client.post(f"/queue/{item_id}/feedback", headers=headers, data={"view": "detail"})
    assert refused.status_code == 422
    given = await site.client.post(
        f"/queue/{item_id}/feedback",
        headers=headers,
        data={"view": "detail", "flag": "yes", "emotional": "1"},
    )
    assert given.headers["HX-Redirect"] == f"/queue/{item_id}"
    assert "needed a person; emotional: yes" in (await site.client.get(f"/queue/{item_id}")).text


async def test_ticket_text_is_escaped(site: Site) -> None:
    await site.flag("X-1", FLAGGED + " <script>alert(1)</script>")
    await sign_in(site.client, api_key=site.keys["ann"])
    page = (await site.client.get("/queue")).text
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


async def test_open_mode_signs_in_by_name(client: httpx.AsyncClient) -> None:
    login = await client.get("/login")
    assert "Open mode" in login.text and 'for="name">Your name</label>' in login.text
    csrf = await sign_in(client, name="ann")
    r = await client.post("/v1/score", json={"id": "O-1", "text": FLAGGED})
    item_id = next(i["id"] for i in (await client.get("/v1/queue")).json()["items"])
    claimed = await client.post(f"/queue/{item_id}/claim", headers={**HX, "X-CSRF-Token": csrf})
    assert r.status_code == 200 and "Yours until" in claimed.text
    assert (await client.get(f"/v1/queue/{item_id}")).json()["claimed_by"] == "ann"


async def test_htmx_is_served_from_the_package_as_vendored(client: httpx.AsyncClient) -> None:
    r = await client.get(HTMX)
    assert r.status_code == 200 and r.text.startswith("var htmx=")
    recorded = (STATIC_DIR / "VENDORED.md").read_text()
    assert hashlib.sha256(r.content).hexdigest() in recorded
    assert (await client.get("/static/page.js")).status_code == 200
