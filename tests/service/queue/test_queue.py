"""The human queue: one item per flagged ticket, priority order, leases, exactly-once claims, feedback."""

from __future__ import annotations

import random
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from service.errors import ConflictError
from service.queue import service
from service.storage.tables import QueueItem

pytestmark = pytest.mark.anyio
FLAGGED = "This is the third time I write. My mother passed away and you keep sending her bills."
ROUTINE = "Could you send me a copy of my invoice, please?"


async def flag(
    client: httpx.AsyncClient, ticket_id: str, text: str = FLAGGED, **extra: object
) -> dict[str, object]:
    r = await client.post("/v1/score", json={"id": ticket_id, "text": text, **extra})
    assert r.status_code == 200
    return dict(r.json())


async def open_items(client: httpx.AsyncClient, **params: str) -> list[dict[str, object]]:
    r = await client.get("/v1/queue", params=params)
    assert r.status_code == 200
    return list(r.json()["items"])


async def test_a_flagged_ticket_gets_one_item_however_often_scored(stored_client: httpx.AsyncClient) -> None:
    assert (await flag(stored_client, "Q-1"))["route"] == "human"
    await flag(stored_client, "Q-1")
    routine = await flag(stored_client, "Q-2", ROUTINE)
    items = await open_items(stored_client)
    assert [i["ticket_id"] for i in items] == ["Q-1"] or routine["route"] == "human"
    assert sum(i["ticket_id"] == "Q-1" for i in items) == 1
    item = items[0]
    assert item["text"] == FLAGGED and item["status"] == "open" and item["waiting_seconds"] >= 0
    assert {"bereavement"} <= set(item["rules"])  # type: ignore[arg-type]


async def test_order_filters_and_cursor_pages(stored_client: httpx.AsyncClient) -> None:
    for i in range(7):
        await flag(stored_client, f"P-{i}", f"{FLAGGED} ({i})", language="en")
    first = await stored_client.get("/v1/queue", params={"limit": 3})
    page = first.json()
    seen = [i["id"] for i in page["items"]]
    while page["next_cursor"]:
        page = (
            await stored_client.get("/v1/queue", params={"limit": 3, "cursor": page["next_cursor"]})
        ).json()
        seen += [i["id"] for i in page["items"]]
    everything = await open_items(stored_client, limit="200")
    assert seen == [i["id"] for i in everything] and len(seen) == 7
    ranks = {"urgent": 0, "high": 1, "normal": 2, "low": 3}
    keys = [(ranks[str(i["priority"])], str(i["created_at"])) for i in everything]
    assert keys == sorted(keys)
    assert await open_items(stored_client, language="nl") == []
    assert len(await open_items(stored_client, priority=str(everything[0]["priority"]))) >= 1
    bad = await stored_client.get("/v1/queue", params={"cursor": "not-a-cursor"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_cursor"


async def test_claim_release_resolve_and_who_may(stored_client: httpx.AsyncClient) -> None:
    await flag(stored_client, "L-1")
    item_id = (await open_items(stored_client))[0]["id"]
    url = f"/v1/queue/{item_id}"
    assert (await stored_client.post(f"{url}/claim", json={"agent": "ann"})).json()["claimed_by"] == "ann"
    taken = await stored_client.post(f"{url}/claim", json={"agent": "bob"})
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "conflict"
    assert (
        await stored_client.post(f"{url}/claim", json={"agent": "ann", "lease_seconds": 60})
    ).status_code == 200
    assert (await stored_client.post(f"{url}/release", json={"agent": "bob"})).status_code == 403
    assert (
        await stored_client.post(f"{url}/resolve", json={"agent": "bob", "outcome": "resolved"})
    ).status_code == 403
    released = await stored_client.post(f"{url}/release", json={"agent": "ann"})
    assert released.json()["status"] == "open" and released.json()["claimed_by"] is None
    assert (await stored_client.post(f"{url}/claim", json={"agent": "bob"})).status_code == 200
    done = await stored_client.post(f"{url}/resolve", json={"agent": "bob", "outcome": "escalated"})
    assert done.json()["status"] == "resolved" and done.json()["outcome"] == "escalated"
    assert await open_items(stored_client) == []
    assert len(await open_items(stored_client, status="resolved")) == 1
    assert (await stored_client.post(f"{url}/claim", json={"agent": "ann"})).status_code == 409
    assert (await stored_client.get("/v1/queue/999999")).status_code == 404
    bad = await stored_client.post(f"{url}/resolve", json={"agent": "bob", "outcome": "maybe"})
    assert bad.status_code == 422


async def test_an_expired_lease_can_be_taken_over(
    stored_client: httpx.AsyncClient, db_sessions: sessionmaker[Session]
) -> None:
    await flag(stored_client, "E-1")
    item_id = (await open_items(stored_client))[0]["id"]
    await stored_client.post(f"/v1/queue/{item_id}/claim", json={"agent": "ann"})
    with db_sessions.begin() as session:
        session.execute(update(QueueItem).values(lease_expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    assert (
        await stored_client.post(f"/v1/queue/{item_id}/release", json={"agent": "ann"})
    ).status_code == 403
    assert (await stored_client.post(f"/v1/queue/{item_id}/claim", json={"agent": "bob"})).json()[
        "claimed_by"
    ] == "bob"


async def test_feedback_and_missed_cases(stored_client: httpx.AsyncClient) -> None:
    await flag(stored_client, "F-1")
    item_id = (await open_items(stored_client))[0]["id"]
    r = await stored_client.post(
        f"/v1/queue/{item_id}/feedback",
        json={"agent": "ann", "flag_correct": True, "corrections": {"complex": 0}, "note": "right call"},
    )
    assert r.status_code == 201 and r.json()["kind"] == "agent" and r.json()["corrections"] == {"complex": 0}
    kept = await flag(stored_client, "F-2", ROUTINE)
    missed = await stored_client.post("/v1/feedback", json={"id": "F-2", "corrections": {"emotional": 1}})
    assert missed.status_code == 201 and missed.json()["kind"] == "missed"
    assert missed.json()["flag_correct"] == (kept["route"] == "human")
    assert (await stored_client.post("/v1/feedback", json={"id": "nope"})).status_code == 404
    extra = await stored_client.post(f"/v1/queue/{item_id}/feedback", json={"agent": "a", "flag_correct": 1})
    assert extra.status_code == 422  # strict: 1 is not a boolean


async def test_sixteen_agents_claim_a_thousand_items_exactly_once(
    stored_client: httpx.AsyncClient, db_sessions: sessionmaker[Session]
) -> None:
    for start in range(0, 1000, 250):
        batch = {"tickets": [{"id": f"C-{i}", "text": f"{FLAGGED} #{i}"} for i in range(start, start + 250)]}
        assert (await stored_client.post("/v1/score/batch", json=batch)).status_code == 200
    with db_sessions() as s:
        ids = list(s.scalars(select(QueueItem.id)))
    assert len(ids) == 1000
    wins: Counter[int] = Counter()
    lock = threading.Lock()

    def agent(name: str) -> None:
        order = ids[:]
        random.Random(name).shuffle(order)
        for item_id in order:
            with db_sessions() as session:
                try:
                    service.claim(session=session, item_id=item_id, agent=name, lease_seconds=600)
                except ConflictError:
                    continue
            with lock:
                wins[item_id] += 1

    threads = [threading.Thread(target=agent, args=(f"agent-{k}",)) for k in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with db_sessions() as s:
        claimed = s.scalar(select(func.count()).select_from(QueueItem).where(QueueItem.status == "claimed"))
    assert len(wins) == 1000 and set(wins.values()) == {1} and claimed == 1000
