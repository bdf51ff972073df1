"""The registry: first start, register, promote, rollback, retire; and the in-process hot swap."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from service.config import Settings
from service.errors import ConflictError
from service.main import create_app
from service.registry import repository
from service.registry import service as registry

pytestmark = pytest.mark.anyio


@pytest.fixture
async def served(settings: Settings, database_url: str) -> tuple[FastAPI, httpx.AsyncClient]:  # type: ignore[misc]
    app = create_app(
        settings.model_copy(
            update={
                "database_url": database_url,
                "model_poll_seconds": 0.1,
                "model_switch_delay_seconds": 0.3,
            }
        )
    )
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://t") as c,
    ):
        yield app, c


async def version_served(client: httpx.AsyncClient) -> str:
    r = await client.post("/v1/score", json={"text": "Where is my parcel?"})
    assert r.status_code == 200
    return str(r.json()["model_version"])


async def wait_for_version(client: httpx.AsyncClient, version: str, seconds: float = 10) -> float:
    started = time.monotonic()
    while await version_served(client) != version:
        assert time.monotonic() - started < seconds, f"still not serving {version}"
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def test_first_start_registers_the_served_model_as_champion(
    served: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = served
    with app.state.store.sessions() as session:
        rows = repository.list_versions(session, "tiny")
        assert [(r.version, r.status) for r in rows] == [("1", "champion")]
        assert [e.action for e in repository.events(session, rows[0].id)] == ["first_start"]
        assert rows[0].metrics["held_out"]["needs_human"]["roc_auc"] > 0.5
    assert await version_served(client) == "1"


async def test_promote_swaps_without_a_restart_and_rollback_swaps_back(
    served: tuple[FastAPI, httpx.AsyncClient], candidates_dir: Path
) -> None:
    app, client = served
    with app.state.store.sessions() as session:
        row = registry.register(session=session, directory=candidates_dir / "tiny" / "2", actor="ops-1")
        assert row.status == "candidate"
        with pytest.raises(ConflictError):
            registry.register(session=session, directory=candidates_dir / "tiny" / "2", actor="ops-1")
        registry.promote(
            session=session, name="tiny", version="2", actor="ops-1", forced=False, gate={}, delay_seconds=0.3
        )
        assert {r.version: r.status for r in repository.list_versions(session, "tiny")} == {
            "1": "retired",
            "2": "champion",
        }
    took = await wait_for_version(client, "2")
    assert took < 10
    with app.state.store.sessions() as session:
        with pytest.raises(ConflictError, match="champion"):
            registry.retire(session=session, name="tiny", version="2", actor="ops-1")
        back = registry.rollback(session=session, name="tiny", actor="ops-1", delay_seconds=0.3)
        assert back.version == "1"
    await wait_for_version(client, "1")
    with app.state.store.sessions() as session:
        # The rollback retired it already: retiring it again records nothing new.
        assert registry.retire(session=session, name="tiny", version="2", actor="ops-1").status == "retired"
        actions = [e.action for e in repository.events(session, repository.get(session, "tiny", "2").id)]  # type: ignore[union-attr]
        assert actions == ["register", "promote", "replaced"]
        first = [e.action for e in repository.events(session, repository.get(session, "tiny", "1").id)]  # type: ignore[union-attr]
        assert first == ["first_start", "replaced", "rollback"]


async def test_a_bundle_that_fails_to_load_is_skipped_and_the_old_model_serves_on(
    served: tuple[FastAPI, httpx.AsyncClient], candidates_dir: Path
) -> None:
    app, client = served
    with app.state.store.sessions() as session:
        row = registry.register(session=session, directory=candidates_dir / "tiny" / "2", actor="ops-1")
        session.refresh(row)
        row.model_file = b"not a model"  # damaged in the database after registration
        session.commit()
        registry.promote(
            session=session, name="tiny", version="2", actor="ops-1", forced=False, gate={}, delay_seconds=0
        )
    for _ in range(10):
        await asyncio.sleep(0.1)
        assert await version_served(client) == "1"


async def test_the_api_gate_refuses_a_worse_model_and_force_is_recorded(
    settings: Settings, database_url: str, candidates_dir: Path, unseen_file: Path
) -> None:
    app = create_app(settings.model_copy(update={"database_url": database_url}))
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://t") as c,
    ):
        with app.state.store.sessions() as session:
            registry.register(session=session, directory=candidates_dir / "tiny" / "3", actor="ops-1")
        blind = await c.post("/v1/models/tiny/3/promote", json={})
        assert blind.status_code == 409 and "cannot judge" in blind.json()["error"]["message"]
        app.state.settings = app.state.settings.model_copy(update={"gate_data": [unseen_file]})
        refused = await c.post("/v1/models/tiny/3/promote", json={})
        assert refused.status_code == 409 and refused.json()["error"]["code"] == "gate_refused"
        message = refused.json()["error"]["message"]
        assert "candidate ROC-AUC" in message and "champion 1 ROC-AUC" in message
        assert (await c.get("/v1/models/tiny/3")).json()["status"] == "candidate"
        forced = await c.post("/v1/models/tiny/3/promote", json={"force": True})
        assert forced.status_code == 200 and forced.json()["status"] == "champion"
        shown = (await c.get("/v1/models/tiny/3")).json()
        promote = next(e for e in shown["events"] if e["action"] == "promote")
        assert promote["forced"] is True and promote["detail"]["gate"]["problems"]
        assert promote["actor"] == "local (open mode)"
        listed = {(m["version"], m["status"]) for m in (await c.get("/v1/models")).json()}
        assert listed == {("1", "retired"), ("3", "champion")}
        back = await c.post("/v1/models/tiny/rollback")
        assert back.json()["version"] == "1"
        assert (await c.post("/v1/models/tiny/1/retire")).status_code == 409
        assert (await c.get("/v1/models/tiny/9")).status_code == 404


async def test_a_shadow_scores_after_the_response_and_compare_shows_the_difference(
    served: tuple[FastAPI, httpx.AsyncClient], candidates_dir: Path
) -> None:
    app, client = served
    with app.state.store.sessions() as session:
        registry.register(session=session, directory=candidates_dir / "tiny" / "3", actor="ops-1")
    assert (await client.post("/v1/models/tiny/3/shadow")).json()["status"] == "shadow"
    deadline = time.monotonic() + 60  # a bound for a stuck loader thread, not a speed check
    while app.state.shadow.scorer is None:
        assert time.monotonic() < deadline, "the shadow was not loaded"
        await asyncio.sleep(0.05)
    texts = [
        "Where is my parcel?",
        "My mother passed away and you keep sending her bills. This is the third time I write.",
        "Could you send me a copy of my invoice, please?",
        "I am furious: you cut off our power in the middle of winter with a baby at home.",
    ]
    for i, text in enumerate(texts):
        r = await client.post("/v1/score", json={"id": f"S-{i}", "text": text})
        assert r.json()["model_version"] == "1"  # the champion answers; the shadow only listens
    await client.post("/v1/feedback", json={"id": "S-0", "note": "needed a person after all"})
    while True:
        compared = (await client.get("/v1/models/tiny/compare", params={"a": "1", "b": "3"})).json()
        if compared["tickets"] == len(texts):
            break
        assert time.monotonic() < deadline, compared
        await asyncio.sleep(0.05)
    assert compared["to_human"] + compared["to_automation"] == round((1 - compared["agreement"]) * len(texts))
    assert compared["with_feedback"] == 1 and compared["recall_a"] is not None
    with app.state.store.sessions() as session:
        assert registry.get_version(session=session, name="tiny", version="3").status == "shadow"
        registry.register(session=session, directory=candidates_dir / "tiny" / "2", actor="ops-1")
        registry.set_shadow(session=session, name="tiny", version="2", actor="ops-1")
        assert registry.get_version(session=session, name="tiny", version="3").status == "candidate"
