"""Every scored ticket is stored before its 2xx; idempotent by (source, id) and by Idempotency-Key."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from alembic import command
from sqlalchemy import func, select

from service.config import Settings
from service.main import create_app
from service.storage.database import alembic_config, make_engine, upgrade
from service.storage.tables import IdempotencyRecord, ScoreEvent, TicketRecord

pytestmark = pytest.mark.anyio
ANGRY = "This is the THIRD time I write. Nobody answers and I am furious, my money is gone."


def count(url: str, table: type) -> int:
    engine = make_engine(url)
    with engine.connect() as conn:
        n = conn.execute(select(func.count()).select_from(table)).scalar_one()
    engine.dispose()
    return int(n)


async def test_a_scored_ticket_is_stored_with_its_scores(stored_client: httpx.AsyncClient) -> None:
    r = await stored_client.post("/v1/score", json={"id": "T-1", "text": ANGRY, "subject": "again"})
    assert r.status_code == 200
    scored = r.json()
    got = await stored_client.get("/v1/tickets/T-1")
    assert got.status_code == 200
    body = got.json()
    assert body["text"] == ANGRY and body["subject"] == "again" and body["source"] == "api"
    assert body["needs_human"] == scored["needs_human"] and body["route"] == scored["route"]
    assert body["reasons"] == scored["reasons"] and body["model_version"] == scored["model_version"]
    assert len(body["history"]) == 1 and body["times_scored"] == 1


async def test_scoring_the_same_ticket_again_updates_one_record(
    stored_client: httpx.AsyncClient, database_url: str
) -> None:
    for text in (ANGRY, "Could you send me my invoice, please?"):
        r = await stored_client.post("/v1/score", json={"id": "T-2", "source": "zendesk", "text": text})
        assert r.status_code == 200
    body = (await stored_client.get("/v1/tickets/T-2", params={"source": "zendesk"})).json()
    assert body["text"] == "Could you send me my invoice, please?"
    assert body["times_scored"] == 2 and len(body["history"]) == 2
    assert count(database_url, TicketRecord) == 1
    # The same id from another source is another ticket.
    assert (await stored_client.get("/v1/tickets/T-2")).status_code == 404


async def test_a_ticket_without_an_id_gets_one(stored_client: httpx.AsyncClient) -> None:
    r = await stored_client.post("/v1/score", json={"text": ANGRY})
    ticket_id = r.json()["id"]
    assert ticket_id.startswith("t-")
    assert (await stored_client.get(f"/v1/tickets/{ticket_id}")).json()["text"] == ANGRY


async def test_unknown_ticket_is_a_json_404(stored_client: httpx.AsyncClient) -> None:
    r = await stored_client.get("/v1/tickets/nope")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"


async def test_idempotency_key_replays_and_refuses_another_body(
    stored_client: httpx.AsyncClient, database_url: str
) -> None:
    headers = {"Idempotency-Key": "key-1"}
    first = await stored_client.post("/v1/score", json={"text": ANGRY}, headers=headers)
    again = await stored_client.post("/v1/score", json={"text": ANGRY}, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.content == first.content and again.headers["Idempotent-Replayed"] == "true"
    assert count(database_url, TicketRecord) == 1 and count(database_url, ScoreEvent) == 1
    other = await stored_client.post("/v1/score", json={"text": "something else"}, headers=headers)
    assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_reused"
    assert count(database_url, TicketRecord) == 1


async def test_batch_is_stored_and_idempotent(stored_client: httpx.AsyncClient, database_url: str) -> None:
    batch = {"tickets": [{"id": f"B-{i}", "text": f"{ANGRY} ({i})"} for i in range(20)]}
    first = await stored_client.post("/v1/score/batch", json=batch, headers={"Idempotency-Key": "b"})
    again = await stored_client.post("/v1/score/batch", json=batch, headers={"Idempotency-Key": "b"})
    assert first.status_code == 200 and again.content == first.content
    assert count(database_url, TicketRecord) == 20 and count(database_url, IdempotencyRecord) == 1


async def test_concurrent_requests_lose_nothing_and_duplicate_nothing(
    stored_client: httpx.AsyncClient, database_url: str
) -> None:
    distinct = [
        stored_client.post("/v1/score", json={"id": f"C-{i}", "text": f"{ANGRY} {i}"}) for i in range(60)
    ]
    same = [stored_client.post("/v1/score", json={"id": "SAME", "text": f"{ANGRY} {i}"}) for i in range(20)]
    responses = await asyncio.gather(*distinct, *same)
    assert all(r.status_code == 200 for r in responses)
    assert count(database_url, TicketRecord) == 61
    body = (await stored_client.get("/v1/tickets/SAME")).json()
    assert body["times_scored"] == 20 and len(body["history"]) == 20


async def test_storage_off_scores_without_keeping_anything(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"storage": False}))
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://t") as c,
    ):
        assert (await c.post("/v1/score", json={"id": "X", "text": ANGRY})).json()["id"] == "X"
        r = await c.get("/v1/tickets/X")
    assert r.status_code == 404 and r.json()["error"]["code"] == "storage_disabled"
    assert not (settings.data_dir / "triage.db").exists()


def test_migrations_from_empty_match_the_tables(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine, database_url)
    upgrade(engine, database_url)  # a second start finds nothing to do
    engine.dispose()
    command.check(alembic_config(database_url))  # raises on drift


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    engine = make_engine(url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
    engine.dispose()
