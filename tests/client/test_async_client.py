"""The async client against the real app (tiny model, SQLite, open mode) through the ASGI transport:
a helpdesk's and an agent's whole day, and the service's refusals as typed errors."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from service.config import Settings
from service.main import create_app
from tests.client.conftest import FLAGGED, ROUTINE
from triage_client import (
    AsyncTriageClient,
    ConflictError,
    Customer,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    Ticket,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[AsyncTriageClient]:
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        AsyncTriageClient("http://triage.test", transport=httpx.ASGITransport(app=app)) as client,
    ):
        yield client


async def test_a_helpdesk_scores_reads_and_reports(client: AsyncTriageClient) -> None:
    assert (await client.healthz()).status == "ok"
    ready = await client.readyz()
    assert ready.ready and ready.model_version == "1"

    ticket = Ticket(
        id="ZD-1",
        source="zendesk",
        subject="still no answer",
        text=FLAGGED,
        customer=Customer(id="c-1", tier="gold"),
        previous_contacts=2,
        metadata={"queue": "billing"},
    )
    first = await client.score(ticket, idempotency_key="zd-1-v1")
    assert first.id == "ZD-1" and first.route == "human" and first.priority != "low"
    assert "bereavement" in first.rules
    for reason in first.reasons:
        if reason.text is not None:
            assert reason.field is not None and reason.start is not None and reason.end is not None
            assert (ticket.text if reason.field == "text" else ticket.subject or "")[
                reason.start : reason.end
            ] == reason.text
    # The same key again is the service's replay of the first answer, not a second scoring.
    assert await client.score(ticket, idempotency_key="zd-1-v1") == first
    stored = await client.get_ticket("ZD-1", source="zendesk")
    assert stored.times_scored == 1 and stored.text == FLAGGED and stored.customer_id == "c-1"
    assert stored.route == "human" and len(stored.history) == 1

    results = await client.score_batch(
        [Ticket(id="ZD-2", source="zendesk", text=ROUTINE), Ticket(text=FLAGGED)]
    )
    assert [r.route for r in results] == ["automation", "human"]
    assert results[0].id == "ZD-2" and results[1].id is not None  # the service names an unnamed ticket

    missed = await client.report_missed("ZD-2", source="zendesk", corrections={"complex": 1}, note="refund")
    assert (missed.kind, missed.ticket_id, missed.corrections, missed.note) == (
        "missed",
        "ZD-2",
        {"complex": 1},
        "refund",
    )
    outcome = await client.report_outcome("ZD-2", source="zendesk", csat=2, reopened=True)
    assert (outcome.ticket_id, outcome.csat, outcome.reopened) == ("ZD-2", 2, True)

    for odd in ("mail: 50% off? #1", "orders/2026/17", "/lead"):  # escaped in the path
        await client.score(Ticket(id=odd, text=ROUTINE))
        assert (await client.get_ticket(odd)).id == odd

    await client.erase_ticket("ZD-1", source="zendesk")
    erased = await client.get_ticket("ZD-1", source="zendesk")
    assert erased.text is None and erased.text_purged_at is not None


async def test_an_agent_works_the_queue(client: AsyncTriageClient) -> None:
    await client.score_batch([Ticket(id=f"Q-{i}", text=FLAGGED) for i in range(5)])
    page = await client.list_queue(limit=2)
    assert len(page.items) == 2 and page.next_cursor is not None
    items = [item async for item in client.iter_queue(page_size=2)]
    assert sorted(i.ticket_id for i in items) == [f"Q-{i}" for i in range(5)]
    assert all(i.status == "open" and i.text == FLAGGED for i in items)

    item = items[0]
    claimed = await client.claim(item.id, agent="ann", lease_seconds=60)
    assert (claimed.status, claimed.claimed_by) == ("claimed", "ann")
    assert (await client.claim(item.id, agent="ann")).claimed_by == "ann"  # claiming again renews
    with pytest.raises(ConflictError) as conflict:
        await client.claim(item.id, agent="bob")
    assert conflict.value.status_code == 409 and conflict.value.attempts == 1
    with pytest.raises(PermissionDeniedError) as not_holder:
        await client.resolve(item.id, "resolved", agent="bob")
    assert not_holder.value.code == "not_holder"

    feedback = await client.give_feedback(
        item.id, flag_correct=True, corrections={"emotional": 1, "complex": 0}, note="grieving", agent="ann"
    )
    assert (feedback.kind, feedback.flag_correct, feedback.corrections) == (
        "agent",
        True,
        {"emotional": 1, "complex": 0},
    )
    done = await client.resolve(item.id, "escalated", agent="ann")
    assert (done.status, done.outcome) == ("resolved", "escalated") and done.resolved_at is not None
    assert (await client.get_item(item.id)).status == "resolved"
    assert [i.id async for i in client.iter_queue(status="resolved")] == [item.id]

    other = items[1]
    await client.claim(other.id, agent="ann")
    assert (await client.release(other.id, agent="ann")).status == "open"


async def test_refusals_are_typed_errors_naming_the_field(client: AsyncTriageClient) -> None:
    with pytest.raises(InvalidRequestError) as invalid:
        await client.score(Ticket(text="  "))
    assert invalid.value.code == "validation_error" and invalid.value.attempts == 1
    assert invalid.value.details is not None and invalid.value.details[0]["loc"] == ["body", "text"]
    assert invalid.value.request_id

    with pytest.raises(NotFoundError) as missing:
        await client.get_ticket("nobody")
    assert missing.value.code == "not_found" and "nobody" in missing.value.message
    with pytest.raises(NotFoundError):
        await client.get_item(999)
    await client.score(Ticket(id="A-1", text=FLAGGED))
    (item,) = (await client.list_queue()).items
    with pytest.raises(InvalidRequestError) as no_agent:  # the open mode needs the agent's name
        await client.claim(item.id)
    assert no_agent.value.code == "agent_required"
