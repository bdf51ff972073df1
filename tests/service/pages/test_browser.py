"""The agents' page in a real browser: headless Chromium (Debian's), driven by Playwright.

The service runs in a thread under uvicorn with keys required and SQLite storage. The test
signs in with an agent key, finds the flagged ticket with its phrases highlighted, claims it from
the keyboard, resolves it with feedback, and sees it leave the list; screenshots go to
``test-artifacts/browser/`` (or ``$TRIAGE_TEST_ARTIFACTS``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from service.access import service as access
from service.config import Settings
from service.main import create_app
from service.storage.tables import Feedback, QueueItem

REPO = Path(__file__).resolve().parents[3]
CHROMIUM = os.environ.get("TRIAGE_TEST_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("TRIAGE_TEST_ARTIFACTS", REPO / "test-artifacts")) / "browser"
FLAGGED = "This is the third time I write. My mother passed away and you keep sending her bills."
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

pytestmark = pytest.mark.skipif(
    shutil.which(CHROMIUM) is None,
    reason=f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium; `make test` installs it as root)",
)


@dataclass
class LiveService:
    url: str
    keys: dict[str, str]
    settings: Settings
    app: object


@pytest.fixture
def live_service(settings: Settings, tmp_path: Path, serve: Callable[[FastAPI], str]) -> LiveService:
    settings = settings.model_copy(
        update={"auth": "required", "database_url": f"sqlite:///{tmp_path / 'triage.db'}"}
    )
    app = create_app(settings)
    url = serve(app)
    with app.state.store.sessions() as session:
        keys = {
            role: access.create_key(session=session, name=name, role=role)
            for role, name in (("helpdesk", "desk"), ("agent", "ann"), ("lead", "lea"))
        }
    return LiveService(url=url, keys=keys, settings=settings, app=app)


def test_an_agent_signs_in_claims_and_resolves_with_feedback(live_service: LiveService) -> None:
    from playwright.sync_api import expect, sync_playwright

    scored = httpx.post(
        f"{live_service.url}/v1/score",
        json={"id": "B-1", "text": FLAGGED, "subject": "Bills for my late mother"},
        headers={"Authorization": f"Bearer {live_service.keys['helpdesk']}"},
        timeout=60,
    )
    assert scored.status_code == 200 and scored.json()["route"] == "human"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.goto(f"{live_service.url}/queue")
            expect(page).to_have_url(f"{live_service.url}/login?next=/queue")

            page.get_by_label("API key").fill("tt_not-a-key")
            page.get_by_role("button", name="Sign in").click()
            expect(page.get_by_role("alert")).to_contain_text("unknown or revoked")

            page.get_by_label("API key").fill(live_service.keys["agent"])
            page.get_by_role("button", name="Sign in").click()
            expect(page).to_have_url(f"{live_service.url}/queue")
            expect(page.get_by_text("Signed in as")).to_contain_text("ann")

            item = page.locator("article.item").filter(has_text="Bills for my late mother")
            expect(item).to_have_count(1)
            expect(item.locator("mark").first).to_be_visible()  # the reason phrases are highlighted
            expect(item.locator(".badge.flagged").first).to_be_visible()
            expect(item).to_contain_text("waiting")

            # Claim from the keyboard: j focuses the first ticket, c claims it.
            page.keyboard.press("j")
            expect(item).to_be_focused()
            page.keyboard.press("c")
            expect(item.get_by_role("button", name="Release")).to_be_visible()
            expect(page.locator("#messages")).to_contain_text("Claimed")
            page.screenshot(path=str(ARTIFACTS / "queue-claimed.png"), full_page=True)

            item.get_by_label("Outcome").select_option("escalated")
            item.get_by_label("Yes", exact=True).check()
            item.get_by_role("combobox", name="Emotional?").select_option("1")
            item.get_by_label("Note (optional)").fill("Needed a careful answer about the bills.")
            url_before = page.url
            item.get_by_role("button", name="Resolve").click()

            expect(page.locator("#messages")).to_contain_text("Resolved, with your feedback")
            expect(page.locator("article.item")).to_have_count(0)
            expect(page.get_by_text("Nothing waiting")).to_be_visible()
            assert page.url == url_before  # updated in place, not reloaded
            page.screenshot(path=str(ARTIFACTS / "queue-after-resolve.png"), full_page=True)
        finally:
            browser.close()

    with live_service.app.state.store.sessions() as session:  # type: ignore[attr-defined]
        item_row = session.scalars(select(QueueItem)).one()
        feedback = session.scalars(select(Feedback)).one()
    assert (item_row.status, item_row.outcome, item_row.claimed_by) == ("resolved", "escalated", "ann")
    assert feedback.flag_correct is True and feedback.corrections == {"emotional": 1}
    assert feedback.note == "Needed a careful answer about the bills." and feedback.author == "ann"
    assert (ARTIFACTS / "queue-after-resolve.png").stat().st_size > 10_000


def test_a_lead_sees_the_dashboard_with_charts(live_service: LiveService) -> None:
    from playwright.sync_api import expect, sync_playwright

    helpdesk = {"Authorization": f"Bearer {live_service.keys['helpdesk']}"}
    tickets = [("D-1", FLAGGED, 5, False), ("D-2", FLAGGED + " Again.", 3, True)]
    tickets += [
        (f"D-{i}", f"Could you send me a copy of invoice {i}, please?", 4, False) for i in range(3, 9)
    ]
    for ticket_id, text, csat, reopened in tickets:
        assert (
            httpx.post(
                f"{live_service.url}/v1/score",
                json={"id": ticket_id, "text": text},
                headers=helpdesk,
                timeout=60,
            ).status_code
            == 200
        )
        outcome = {"id": ticket_id, "csat": csat, "reopened": reopened}
        assert (
            httpx.post(
                f"{live_service.url}/v1/outcomes", json=outcome, headers=helpdesk, timeout=60
            ).status_code
            == 201
        )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 1000})
            page.goto(f"{live_service.url}/login")
            page.get_by_label("API key").fill(live_service.keys["lead"])
            page.get_by_role("button", name="Sign in").click()
            expect(page).to_have_url(f"{live_service.url}/dashboard")
            expect(page.get_by_role("heading", name="Were the flagged customers helped?")).to_be_visible()
            expect(page.locator(".card").first).to_contain_text("of 8 tickets sent to a person")
            charts = page.locator("figure.chart svg")
            expect(charts).to_have_count(3)
            expect(page.locator("rect.bar.human").first).to_be_visible()
            expect(page.locator("rect.bar.automation").first).to_be_visible()
            page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
            page.goto(f"{live_service.url}/queue")  # not a lead's page
            expect(page.get_by_role("alert")).to_contain_text("for the agent role")
        finally:
            browser.close()
    assert (ARTIFACTS / "dashboard.png").stat().st_size > 10_000
