"""Retention clears text but keeps scores; erasure clears one ticket now; feedback exports as training data."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from service.model.labelled import read_labelled_file
from service.queue.export import export_feedback
from service.tickets.retention import purge_expired

pytestmark = pytest.mark.anyio
FLAGGED = "This is the third time I write. My mother passed away and you keep sending her bills."
ROUTINE = "Could you send me a copy of my invoice, please?"


async def test_retention_clears_text_and_quotes_but_keeps_scores(
    stored_client: httpx.AsyncClient, db_sessions: sessionmaker[Session]
) -> None:
    scored = (
        await stored_client.post(
            "/v1/score", json={"id": "R-1", "text": FLAGGED}, headers={"Idempotency-Key": "k"}
        )
    ).json()
    with db_sessions() as session:
        kept = purge_expired(session=session, retention_days=1)
        assert kept.tickets == 0
        later = datetime.now(UTC) + timedelta(days=2)
        done = purge_expired(session=session, retention_days=1, now=later)
    assert done.tickets == 1 and done.idempotency_records == 1
    body = (await stored_client.get("/v1/tickets/R-1")).json()
    assert body["text"] is None and body["subject"] is None and body["text_purged_at"] is not None
    assert body["needs_human"] == scored["needs_human"] and len(body["history"]) == 1
    assert body["reasons"] and all(r["text"] is None and r["start"] is None for r in body["reasons"])
    item = (await stored_client.get("/v1/queue")).json()["items"][0]
    assert item["text"] is None
    # Scored again, the ticket has text again.
    await stored_client.post("/v1/score", json={"id": "R-1", "text": FLAGGED})
    assert (await stored_client.get("/v1/tickets/R-1")).json()["text"] == FLAGGED


async def test_erasure_clears_one_ticket_its_notes_and_stored_responses(
    stored_client: httpx.AsyncClient,
) -> None:
    await stored_client.post(
        "/v1/score", json={"id": "G-1", "text": FLAGGED}, headers={"Idempotency-Key": "g"}
    )
    await stored_client.post("/v1/score", json={"id": "G-2", "text": FLAGGED})
    item_id = (await stored_client.get("/v1/queue")).json()["items"][0]["id"]
    await stored_client.post(
        f"/v1/queue/{item_id}/feedback", json={"agent": "a", "flag_correct": True, "note": "call her"}
    )
    assert (await stored_client.delete("/v1/tickets/G-1")).status_code == 204
    assert (await stored_client.get("/v1/tickets/G-1")).json()["text"] is None
    assert (await stored_client.get("/v1/tickets/G-2")).json()["text"] == FLAGGED
    # The stored response quoted the ticket: it is gone, so the key scores afresh.
    again = await stored_client.post(
        "/v1/score", json={"id": "G-1", "text": FLAGGED}, headers={"Idempotency-Key": "g"}
    )
    assert "Idempotent-Replayed" not in again.headers
    assert (await stored_client.delete("/v1/tickets/nope")).status_code == 404


async def test_feedback_exports_as_training_data(
    stored_client: httpx.AsyncClient, db_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    await stored_client.post("/v1/score", json={"id": "X-1", "text": FLAGGED, "language": "en"})
    kept = (await stored_client.post("/v1/score", json={"id": "X-2", "text": ROUTINE})).json()
    await stored_client.post("/v1/score", json={"id": "X-3", "text": ROUTINE})
    item = next(i for i in (await stored_client.get("/v1/queue")).json()["items"] if i["ticket_id"] == "X-1")
    fb = {"agent": "a", "flag_correct": True, "corrections": {"complex": 0}}
    await stored_client.post(f"/v1/queue/{item['id']}/feedback", json={**fb, "corrections": {"complex": 1}})
    await stored_client.post(f"/v1/queue/{item['id']}/feedback", json=fb)  # a later verdict wins
    await stored_client.post("/v1/feedback", json={"id": "X-2", "corrections": {"emotional": 1}})
    out = tmp_path / "feedback.csv"
    with db_sessions() as session:
        done = export_feedback(session=session, path=out)
    assert done.written == 2 and done.without_text == 0
    with out.open(encoding="utf-8", newline="") as fh:
        rows = {r["id"]: r for r in csv.DictReader(fh)}
    assert set(rows) == {"X-1", "X-2"}
    assert (
        rows["X-1"]["needs_human"] == "1" and rows["X-1"]["complex"] == "0" and rows["X-1"]["emotional"] == ""
    )
    assert rows["X-2"]["needs_human"] == "1" and rows["X-2"]["emotional"] == "1"
    assert kept["route"] in {"human", "automation"}
    # The file is valid training data as it stands.
    labelled = read_labelled_file(out)
    assert {r.labels["needs_human"] for r in labelled} == {1}
