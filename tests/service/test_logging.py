"""Logs carry the request and never the ticket text."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import httpx
import pytest

from service.config import Settings
from service.main import create_app

pytestmark = pytest.mark.anyio


async def test_no_ticket_text_in_logs(client: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]) -> None:
    secret = "Mijn partner Jolanda de Vries is overleden, bel me op 0612345678"
    await client.post("/v1/score", json={"text": secret, "subject": "Jolanda", "id": "LOG-1"})
    await client.post("/v1/score", json={"text": secret, "bogus": "Jolanda"})
    await client.post("/v1/score/batch", json={"tickets": [{"text": secret}]})
    out = capsys.readouterr().out
    assert "Jolanda" not in out
    assert "0612345678" not in out
    assert "overleden" not in out
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    requests = [line for line in lines if line["event"] == "request"]
    assert [r["status"] for r in requests] == [200, 422, 200]
    assert all(r["request_id"] and r["route"].startswith("/v1/score") for r in requests)


EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# Nine digits or more, maybe spaced, standing alone: not inside a hex request id, a longer number
# or a decimal fraction (durations).
PHONE_DIGITS = re.compile(r"(?<![\w.])\+?\d(?:[\s-]?\d){8,}(?!\w|\.\d)")


async def test_no_personal_data_in_any_log_line_at_debug_level(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """Every kind of request that carries personal data, on every path (stored, replayed, refused,
    fed back, erased), with the service logging at debug level."""
    app = create_app(
        settings.model_copy(update={"database_url": f"sqlite:///{tmp_path}/t.db", "log_level": "debug"})
    )
    text = "Ik ben Jolanda de Vries, mail jolanda.devries@example.nl of bel +31 6 12345678. Mijn man is overleden."
    caplog.set_level(logging.DEBUG)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        key = {"Idempotency-Key": "k-1"}
        assert (
            await client.post("/v1/score", json={"id": "PII-1", "text": text}, headers=key)
        ).status_code == 200
        assert (
            await client.post("/v1/score", json={"id": "PII-1", "text": text}, headers=key)
        ).status_code == 200
        assert (
            await client.post("/v1/score", json={"id": "PII-1", "text": "x"}, headers=key)
        ).status_code == 422
        assert (await client.post("/v1/score", json={"text": text, "customer": text})).status_code == 422
        assert (await client.post("/v1/score", content=text.encode())).status_code == 422
        batch = {"tickets": [{"id": "PII-2", "text": text, "subject": "jolanda.devries@example.nl"}]}
        assert (await client.post("/v1/score/batch", json=batch)).status_code == 200
        items = (await client.get("/v1/queue")).json()["items"]
        assert items, "the ticket should have been routed to a person"
        item = items[0]["id"]
        note = {"agent": "ann", "flag_correct": True, "note": text}
        assert (await client.post(f"/v1/queue/{item}/feedback", json=note)).status_code == 201
        assert (await client.post("/v1/feedback", json={"id": "PII-2", "note": text})).status_code == 201
        assert (await client.get("/v1/tickets/PII-1")).status_code == 200
        assert (await client.post("/v1/outcomes", json={"id": "PII-1", "csat": 2})).status_code in (200, 201)
        assert (await client.delete("/v1/tickets/PII-1")).status_code in (200, 204)
    out = capsys.readouterr().out + "\n".join(r.getMessage() for r in caplog.records)
    assert out.strip(), "nothing was logged: the test would prove nothing"
    for fragment in ("Jolanda", "Vries", "overleden", "12345678"):
        assert fragment not in out
    assert not EMAIL.search(out), EMAIL.search(out)
    found = PHONE_DIGITS.search(out)
    assert not found, out[max(0, found.start() - 200) : found.end() + 50]
