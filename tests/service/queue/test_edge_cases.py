"""Edge cases: a cancelled request, an expired lease, erasure by odd ids, a re-routed ticket, NUL."""

from __future__ import annotations

import asyncio
import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from service.queue.export import export_feedback
from service.storage.tables import QueueItem
from service.tickets.service import TicketStore
from tests.service.conftest import scored

pytestmark = pytest.mark.anyio
FLAGGED = "This is the third time I write. My mother passed away and you keep sending her bills."


def test_the_writer_outlives_a_cancelled_request(db_sessions: sessionmaker[Session]) -> None:
    store = TicketStore(db_sessions)
    gone = store.submit([scored("W-1")], body="{}")
    gone.cancel()  # the client went away before the commit
    kept = store.submit([scored("W-2")], body="{}")
    store.start()
    assert kept.result(timeout=30) is None
    later = store.submit([scored("W-3")], body="{}")
    assert later.result(timeout=30) is None
    store.stop()
    late = store.submit([scored("W-4")], body="{}")
    store.stop()  # the thread is gone: what is still queued fails instead of waiting forever
    assert isinstance(late.exception(timeout=5), RuntimeError)


async def test_requests_on_the_loop_are_committed_together_and_survive_a_cancelled_one(
    db_sessions: sessionmaker[Session],
) -> None:
    store = TicketStore(db_sessions)
    store.start()
    gone = asyncio.ensure_future(store.save([scored("L-0")], body="{}"))
    kept = [asyncio.ensure_future(store.save([scored(f"L-{i}")], body="{}")) for i in range(1, 20)]
    await asyncio.sleep(0)
    gone.cancel()  # its client went away: the others are still answered
    assert await asyncio.gather(*kept) == [None] * 19
    store.stop()
    with pytest.raises(RuntimeError, match="stopped"):
        await store.save([scored("L-late")], body="{}")  # after the stop: failed, not left waiting


async def test_an_expired_claim_is_back_in_the_open_view_and_its_holder_is_refused(
    stored_client: httpx.AsyncClient, db_sessions: sessionmaker[Session]
) -> None:
    await stored_client.post("/v1/score", json={"id": "X-1", "text": FLAGGED})
    item_id = (await stored_client.get("/v1/queue")).json()["items"][0]["id"]
    await stored_client.post(f"/v1/queue/{item_id}/claim", json={"agent": "ann"})
    assert (await stored_client.get("/v1/queue")).json()["items"] == []
    with db_sessions.begin() as session:
        session.execute(update(QueueItem).values(lease_expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    assert [i["id"] for i in (await stored_client.get("/v1/queue")).json()["items"]] == [item_id]
    late = await stored_client.post(
        f"/v1/queue/{item_id}/resolve", json={"agent": "ann", "outcome": "resolved"}
    )
    assert late.status_code == 403 and late.json()["error"]["code"] == "not_holder"


async def test_erasure_matches_its_own_ticket_exactly(stored_client: httpx.AsyncClient) -> None:
    for ticket_id, key in (("Ünï-1", "k1"), ("%", "k2"), ("x1", "k3"), ("X1", "k4")):
        await stored_client.post(
            "/v1/score", json={"id": ticket_id, "text": FLAGGED}, headers={"Idempotency-Key": key}
        )
    assert (await stored_client.delete("/v1/tickets/Ünï-1")).status_code == 204
    assert (await stored_client.delete("/v1/tickets/x1")).status_code == 204
    replays = {}
    for ticket_id, key in (("Ünï-1", "k1"), ("%", "k2"), ("x1", "k3"), ("X1", "k4")):
        r = await stored_client.post(
            "/v1/score", json={"id": ticket_id, "text": FLAGGED}, headers={"Idempotency-Key": key}
        )
        replays[ticket_id] = r.headers.get("Idempotent-Replayed") == "true"
    assert replays == {"Ünï-1": False, "%": True, "x1": False, "X1": True}


async def test_an_agent_verdict_survives_a_later_rerouting(
    stored_client: httpx.AsyncClient, db_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    await stored_client.post("/v1/score", json={"id": "V-1", "text": FLAGGED})
    item_id = (await stored_client.get("/v1/queue")).json()["items"][0]["id"]
    await stored_client.post(f"/v1/queue/{item_id}/feedback", json={"agent": "a", "flag_correct": True})
    await stored_client.post("/v1/score", json={"id": "V-1", "text": "Could you send me my invoice?"})
    out = tmp_path / "f.csv"
    with db_sessions() as session:
        export_feedback(session=session, path=out)
    with out.open(encoding="utf-8", newline="") as fh:
        assert [r["needs_human"] for r in csv.DictReader(fh)] == ["1"]


async def test_nul_in_text_is_a_422(stored_client: httpx.AsyncClient) -> None:
    r = await stored_client.post("/v1/score", json={"text": "hello\u0000there"})
    assert r.status_code == 422 and "hello" not in r.text
