"""Logs carry the request and never the ticket text."""

from __future__ import annotations

import json

import httpx
import pytest

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
