"""``POST /v1/webhooks/{source}`` end to end, on SQLite and PostgreSQL: receipt, dedupe, refusals,
scoring from the inbox, updates, and an inbox that outlives the worker that received it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from service.config import Settings
from service.main import create_app
from service.storage.tables import Delivery, QueueItem, TicketRecord, WebhookInbox
from tests.service.integrations.conftest import (
    FakeHelpdesk,
    freshdesk_headers,
    integrations,
    payload,
    standard_headers,
    zammad_headers,
    zendesk_headers,
)

pytestmark = pytest.mark.anyio


def counted(source: str, status: str) -> float:
    return REGISTRY.get_sample_value("triage_webhooks_total", {"source": source, "status": status}) or 0.0


@asynccontextmanager
async def running(settings: Settings, database_url: str, **changes: Any) -> AsyncIterator[httpx.AsyncClient]:
    config = {
        "database_url": database_url,
        "integrations": integrations(),
        "inbox_poll_seconds": 0.05,
        **changes,
    }
    app = create_app(settings.model_copy(update=config))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            client.app = app  # type: ignore[attr-defined]
            yield client


async def until(check: Callable[[], bool], seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.05)


def count(sessions: sessionmaker[Session], table: Any) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(table)) or 0)


def ticket(sessions: sessionmaker[Session], source: str, external_id: str) -> TicketRecord | None:
    with sessions() as session:
        return session.scalars(
            select(TicketRecord).where(TicketRecord.source == source, TicketRecord.external_id == external_id)
        ).one_or_none()


def inbox(sessions: sessionmaker[Session]) -> list[WebhookInbox]:
    with sessions() as session:
        return list(session.scalars(select(WebhookInbox).order_by(WebhookInbox.id)))


async def test_every_provider_is_acknowledged_then_scored_and_stored(
    settings: Settings, database_url: str, db_sessions: sessionmaker[Session]
) -> None:
    sent = {
        "zendesk": (payload("zendesk_ticket_created"), None),
        "zammad": (payload("zammad_ticket_created"), None),
        "freshdesk": (payload("freshdesk_ticket_created"), None),
        "acme": (payload("generic_ticket_created"), None),
    }
    async with running(settings, database_url) as client:
        for source, (body, _) in sent.items():
            headers = {
                "zendesk": lambda b: zendesk_headers(b),
                "zammad": lambda b: zammad_headers(b),
                "freshdesk": lambda b: freshdesk_headers(),
                "acme": lambda b: standard_headers(b),
            }[source](body)
            response = await client.post(f"/v1/webhooks/{source}", content=body, headers=headers)
            assert response.status_code == 202, response.text
            assert response.json()["status"] == "accepted"
        expected = {"zendesk": "81723", "zammad": "512", "freshdesk": "4417", "acme": "G-1001"}
        await until(lambda: all(ticket(db_sessions, s, i) is not None for s, i in expected.items()))
        await until(lambda: all(row.status == "done" for row in inbox(db_sessions)))
    rows = inbox(db_sessions)
    assert len(rows) == 4 and all(row.ticket is None and row.attempts == 1 for row in rows)  # text let go
    stored = ticket(db_sessions, "zendesk", "81723")
    assert stored is not None and stored.route == "human" and "bereavement" in stored.rules
    assert stored.subject == "Still getting letters for my late mother"


async def test_a_repeated_delivery_is_acknowledged_and_processed_once(
    settings: Settings, database_url: str, db_sessions: sessionmaker[Session]
) -> None:
    body = payload("zammad_ticket_created")
    before = counted("zammad", "accepted"), counted("zammad", "duplicate")
    async with running(settings, database_url) as client:
        first = await client.post(
            "/v1/webhooks/zammad", content=body, headers=zammad_headers(body, delivery="dlv-1")
        )
        # A replay under another delivery id is the same delivery: the id header is not signed.
        again = await client.post(
            "/v1/webhooks/zammad", content=body, headers=zammad_headers(body, delivery="dlv-2")
        )
        delivery = first.json()["delivery_id"]
        assert delivery.startswith("sha256:")
        assert (first.status_code, first.json()) == (202, {"status": "accepted", "delivery_id": delivery})
        assert (again.status_code, again.json()) == (202, {"status": "duplicate", "delivery_id": delivery})
        await until(lambda: ticket(db_sessions, "zammad", "512") is not None)
        # Freshdesk sends no id: the same body is the same delivery.
        fd = payload("freshdesk_ticket_created")
        for expected in ("accepted", "duplicate"):
            response = await client.post("/v1/webhooks/freshdesk", content=fd, headers=freshdesk_headers())
            assert response.json()["status"] == expected
        await until(lambda: ticket(db_sessions, "freshdesk", "4417") is not None)
        await asyncio.sleep(0.2)
    assert len(inbox(db_sessions)) == 2
    assert (counted("zammad", "accepted"), counted("zammad", "duplicate")) == (before[0] + 1, before[1] + 1)
    stored = ticket(db_sessions, "zammad", "512")
    assert stored is not None and stored.times_scored == 1


async def test_refusals_store_nothing(
    settings: Settings, database_url: str, db_sessions: sessionmaker[Session]
) -> None:
    body = payload("zendesk_ticket_created")
    refused = counted("zendesk", "refused"), counted("unknown", "refused")
    async with running(settings, database_url) as client:
        cases = [
            ("zendesk", body.replace(b"third", b"fifth"), zendesk_headers(body), 401, "bad_signature"),
            ("zendesk", body, {"content-type": "application/json"}, 401, "bad_signature"),
            ("zendesk", body, zendesk_headers(body, at=time.time() - 600), 401, "bad_signature"),
            ("zendesk", body, zendesk_headers(body, secret="guessed"), 401, "bad_signature"),
            ("acme", body, standard_headers(body, secret="whsec_" + "d3Jvbmcga2V5"), 401, "bad_signature"),
            ("helpscout", body, zendesk_headers(body), 404, "not_found"),
            ("zendesk", b"{not json", zendesk_headers(b"{not json"), 422, "invalid_payload"),
            (
                "zendesk",
                b'{"ticket": {"subject": "no id"}}',
                zendesk_headers(b'{"ticket": {"subject": "no id"}}'),
                422,
                "invalid_payload",
            ),
        ]
        for source, sent, headers, status, code in cases:
            response = await client.post(f"/v1/webhooks/{source}", content=sent, headers=headers)
            assert response.status_code == status, (source, response.text)
            error = response.json()["error"]
            assert error["code"] == code
            assert "passed away" not in response.text  # the ticket's text is never echoed
        ignored = payload("zendesk_user_created")
        response = await client.post(
            "/v1/webhooks/zendesk", content=ignored, headers=zendesk_headers(ignored)
        )
        assert (response.status_code, response.json()["status"]) == (202, "ignored")
        await asyncio.sleep(0.2)
    assert count(db_sessions, WebhookInbox) == 0 and count(db_sessions, TicketRecord) == 0
    assert (counted("zendesk", "refused"), counted("unknown", "refused")) == (refused[0] + 6, refused[1] + 1)


async def test_an_updated_ticket_updates_its_record_with_one_queue_item(
    settings: Settings, database_url: str, db_sessions: sessionmaker[Session]
) -> None:
    created, updated = payload("zendesk_ticket_created"), payload("zendesk_comment_added")
    async with running(settings, database_url) as client:
        response = await client.post(
            "/v1/webhooks/zendesk", content=created, headers=zendesk_headers(created, invocation="a")
        )
        assert response.status_code == 202
        await until(lambda: ticket(db_sessions, "zendesk", "81723") is not None)
        response = await client.post(
            "/v1/webhooks/zendesk", content=updated, headers=zendesk_headers(updated, invocation="b")
        )
        assert response.status_code == 202
        await until(
            lambda: (t := ticket(db_sessions, "zendesk", "81723")) is not None and t.times_scored == 2
        )
    stored = ticket(db_sessions, "zendesk", "81723")
    assert stored is not None and stored.text is not None and stored.text.endswith("ombudsman.")
    assert count(db_sessions, TicketRecord) == 1 and count(db_sessions, QueueItem) == 1


async def test_webhooks_need_no_api_key_when_keys_are_required(
    settings: Settings, database_url: str, db_sessions: sessionmaker[Session]
) -> None:
    body = payload("generic_ticket_created")
    async with running(settings, database_url, auth="required") as client:
        response = await client.post("/v1/webhooks/acme", content=body, headers=standard_headers(body))
        assert response.status_code == 202
        assert (await client.post("/v1/score", json={"text": "hello"})).status_code == 401
        schema = (await client.get("/openapi.json")).json()
        assert schema["paths"]["/v1/webhooks/{source}"]["post"]["security"] == []
        assert "security" not in schema["paths"]["/v1/score"]["post"]  # the global key requirement
        await until(lambda: ticket(db_sessions, "acme", "G-1001") is not None)


async def test_the_inbox_outlives_the_worker_that_received(
    settings: Settings, database_url: str, db_sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Received by a worker whose processor never runs (it dies after the 202s); a new worker scores them."""

    async def never(**_: Any) -> None:
        return None

    with monkeypatch.context() as patch:
        patch.setattr("service.main.process_inbox", never)
        async with running(settings, database_url) as client:
            for name in ("generic_ticket_created", "generic_ticket_updated"):
                body = payload(name)
                headers = standard_headers(body, webhook_id=f"msg_{name}")
                assert (
                    await client.post("/v1/webhooks/acme", content=body, headers=headers)
                ).status_code == 202
            await asyncio.sleep(0.2)
    assert [row.status for row in inbox(db_sessions)] == ["pending", "pending"]
    assert ticket(db_sessions, "acme", "G-1001") is None
    async with running(settings, database_url):
        await until(lambda: all(row.status == "done" for row in inbox(db_sessions)))
    stored = ticket(db_sessions, "acme", "G-1001")
    # Both events scored, in the order they arrived: the update is what the record holds.
    assert stored is not None and stored.times_scored == 2 and stored.text is not None
    assert stored.text.startswith("This is the third time")


async def test_app_without_integrations_answers_404(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/webhooks/zendesk", content=b"{}")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


async def test_one_bad_row_fails_only_its_own_webhook(
    db_sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    from service.integrations import repository
    from service.integrations.providers import parse
    from service.integrations.service import InboxWriter

    real = repository.add_to_inbox

    def add(session: Session, **row: Any) -> bool:
        if row["delivery_id"] == "poison":
            raise ValueError("cannot store this one")
        return real(session, **row)

    monkeypatch.setattr(repository, "add_to_inbox", add)
    event = parse(provider="generic", source="acme", body=payload("generic_ticket_created"))
    assert event is not None
    writer = InboxWriter(db_sessions)
    writer.start()
    try:
        outcomes = await asyncio.gather(
            *(writer.add(source="acme", delivery_id=d, event=event) for d in ("a", "poison", "b", "a")),
            return_exceptions=True,
        )
    finally:
        writer.stop()
    assert outcomes[0] is True and outcomes[2] is True and outcomes[3] is False
    assert isinstance(outcomes[1], ValueError)
    assert sorted(row.delivery_id for row in inbox(db_sessions)) == ["a", "b"]


async def test_webhook_in_decision_back_out(
    settings: Settings, database_url: str, db_sessions: sessionmaker[Session], helpdesk: FakeHelpdesk
) -> None:
    """The whole way: a Zendesk webhook, scored by the worker's inbox loop, and the decision PUT on
    the fake helpdesk by its write-back loop, through a 503 first."""
    helpdesk.answer(503, {"Retry-After": "0"})
    body = payload("zendesk_ticket_created")
    changes = {
        "integrations": integrations(url=helpdesk.url),
        "delivery_poll_seconds": 0.05,
        "delivery_backoff_seconds": 0.01,
    }
    async with running(settings, database_url, **changes) as client:
        assert (
            await client.post("/v1/webhooks/zendesk", content=body, headers=zendesk_headers(body))
        ).status_code == 202
        await until(lambda: len(helpdesk.requests) >= 2)
    first, second = helpdesk.requests[:2]
    assert first["path"] == second["path"] == "/api/v2/tickets/81723"
    assert second["json"] == {
        "ticket": {"priority": "urgent", "additional_tags": ["triage_human", "triage_urgent"], "group_id": 42}
    }
    with db_sessions() as session:
        (delivery,) = session.scalars(select(Delivery)).all()
    assert (delivery.status, delivery.attempts, delivery.last_status) == ("delivered", 2, 200)


async def test_no_ticket_text_in_the_logs_of_a_webhook_at_debug_level(
    settings: Settings, database_url: str, helpdesk: FakeHelpdesk, capsys: pytest.CaptureFixture[str]
) -> None:
    """Receipt, refusal, scoring from the inbox and write-back, logging at debug level."""
    body = payload("zendesk_ticket_created")
    changes = {
        "integrations": integrations(url=helpdesk.url),
        "delivery_poll_seconds": 0.05,
        "log_level": "debug",
    }
    async with running(settings, database_url, **changes) as client:
        forged = zendesk_headers(body, secret="c29tZW9uZSBlbHNl", invocation="forged")
        assert (await client.post("/v1/webhooks/zendesk", content=body, headers=forged)).status_code == 401
        assert (
            await client.post("/v1/webhooks/zendesk", content=body, headers=zendesk_headers(body))
        ).status_code == 202
        await until(lambda: len(helpdesk.requests) >= 1)
    out = capsys.readouterr().out
    assert '"event": "request"' in out, "nothing was logged: the test would prove nothing"
    for fragment in ("mother", "passed away", "reminders", "Still getting letters"):
        assert fragment not in out
