"""The scoring API through the ASGI app."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI

from service.scoring.schemas import MAX_BATCH

pytestmark = pytest.mark.anyio
SECRET = "Mijn man is overleden en ik kan de rekening van €412,80 niet betalen"


async def test_score_returns_the_full_result(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/v1/score", json={"text": SECRET, "id": "T-1", "channel": "email", "previous_contacts": 0}
    )
    assert r.status_code == 200
    body = r.json()
    assert body["id"] == "T-1"
    assert body["route"] in {"human", "automation"}
    assert set(body["dimensions"]) == {"emotional", "complex", "nuanced"}
    assert all(0.0 <= v <= 1.0 for v in body["dimensions"].values())
    assert 0.0 <= body["needs_human"] <= 1.0
    assert body["priority"] in {"urgent", "high", "normal", "low"}
    assert body["language"] == "nl"
    assert body["language_supported"] is True
    assert body["model_version"] == "1"
    assert body["policy_version"]
    assert "bereavement" in body["rules"]
    assert body["route"] == "human"
    for reason in body["reasons"]:
        if reason["text"] is not None:
            assert SECRET[reason["start"] : reason["end"]] == reason["text"]
    assert r.headers["x-request-id"]


async def test_batch_keeps_order_and_ids(client: httpx.AsyncClient) -> None:
    tickets = [{"text": f"waar blijft bestelling {i}?", "id": str(i)} for i in range(5)]
    r = await client.post("/v1/score/batch", json={"tickets": tickets})
    assert r.status_code == 200
    assert [res["id"] for res in r.json()["results"]] == ["0", "1", "2", "3", "4"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"text": "hi", "unknown": 1}, ["body", "unknown"]),
        ({"text": ""}, ["body", "text"]),
        ({"text": "   "}, ["body", "text"]),
        ({"text": "x" * 20_001}, ["body", "text"]),
        ({"text": 5}, ["body", "text"]),
        ({"text": "hi", "previous_contacts": -1}, ["body", "previous_contacts"]),
        ({"text": "hi", "previous_contacts": "3"}, ["body", "previous_contacts"]),
        ({"text": "hi", "customer": {"tier": "vip", "x": 1}}, ["body", "customer", "x"]),
        ({"text": "hi", "metadata": {"k": 1}}, ["body", "metadata", "[key]"]),
        ({"text": "hi", "metadata": {f"k{i}": "v" for i in range(51)}}, ["body", "metadata"]),
        ({}, ["body", "text"]),
    ],
)
async def test_invalid_tickets_are_422_with_json_error(
    client: httpx.AsyncClient, body: dict[str, object], field: list[str]
) -> None:
    r = await client.post("/v1/score", json=body)
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "validation_error"
    assert field in [d["loc"] for d in error["details"]]


async def test_errors_never_echo_the_ticket_text(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/score", json={"text": SECRET, "surprise": SECRET})
    assert r.status_code == 422
    assert "overleden" not in r.text


async def test_batch_limits(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/score/batch", json={"tickets": [{"text": "a"}] * (MAX_BATCH + 1)})
    assert r.status_code == 422
    r = await client.post("/v1/score/batch", json={"tickets": []})
    assert r.status_code == 422


async def test_body_over_the_limit_is_413(client: httpx.AsyncClient, app: FastAPI) -> None:
    big = b'{"text": "' + b"a" * (9 * 1024 * 1024) + b'"}'
    r = await client.post("/v1/score", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "payload_too_large"


async def test_chunked_body_over_the_limit_is_413(client: httpx.AsyncClient) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(10):
            yield b"a" * (1024 * 1024)

    r = await client.post("/v1/score", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413


async def test_malformed_json_is_422(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/score", content=b'{"text": ', headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "validation_error"


async def test_unknown_path_and_method_are_json(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/nothing")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"
    r = await client.get("/v1/score")
    assert r.status_code == 405
    assert r.json()["error"]["code"] == "method_not_allowed"


async def test_request_id_is_echoed(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz", headers={"x-request-id": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"


async def test_readyz_is_503_before_the_model_loads(app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=app)  # no lifespan: nothing loaded
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        assert (await c.get("/healthz")).status_code == 200
        r = await c.get("/readyz")
        assert r.status_code == 503
        r = await c.post("/v1/score", json={"text": "hello"})
        assert r.status_code == 503
        assert r.json()["error"]["code"] == "model_not_ready"


async def test_readyz_and_metrics_after_scoring(client: httpx.AsyncClient) -> None:
    ready = (await client.get("/readyz")).json()
    assert ready == {"status": "ready", "model_version": "1", "policy_version": ready["policy_version"]}
    await client.post("/v1/score", json={"text": "what are your opening hours on saturday?"})
    text = (await client.get("/metrics")).text
    assert 'triage_model_info{name="tiny",policy_version=' in text
    assert 'triage_tickets_scored_total{route="' in text
    assert 'triage_score_bucket{dimension="emotional"' in text
    assert (
        'triage_http_request_duration_seconds_bucket{le="0.005",method="POST",route="/v1/score",status="200"}'
        in text
    )


async def test_openapi_docs(client: httpx.AsyncClient) -> None:
    docs = await client.get("/docs")
    assert docs.status_code == 200
    # Every asset from this service, none from a CDN: the docs must work offline.
    assets = re.findall(r'(?:src|href)="([^"]+)"', docs.text)
    assert assets and all(a.startswith("/docs-assets/") for a in assets), assets
    for asset in assets:
        assert (await client.get(asset)).status_code == 200
    schema = (await client.get("/openapi.json")).json()
    assert "/v1/score" in schema["paths"]
    assert "/v1/score/batch" in schema["paths"]


async def test_an_unexpected_error_is_a_json_500_with_the_request_id(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(**_: object) -> None:
        raise RuntimeError(SECRET)

    monkeypatch.setattr("service.scoring.router.score_and_record", broken)
    r = await client.post("/v1/score", json={"text": SECRET}, headers={"x-request-id": "req-500"})
    assert r.status_code == 500
    assert r.json() == {
        "error": {"code": "internal_error", "message": "internal server error"},
        "request_id": "req-500",
    }
    assert r.headers["x-request-id"] == "req-500"
    out = capsys.readouterr().out
    assert "RuntimeError" in out and "overleden" not in out


async def test_metadata_keys_are_not_echoed_in_errors(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/score", json={"text": "a", "metadata": {"jan.devries@example.com": 5}})
    assert r.status_code == 422
    assert "jan.devries" not in r.text
    assert ["body", "metadata", "[key]"] in [d["loc"] for d in r.json()["error"]["details"]]


async def test_a_regional_language_hint_counts_as_its_language(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/score", json={"text": "merci!", "language": "nl-BE"})
    assert r.json()["language"] == "nl"


async def test_openapi_documents_the_error_body(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    responses = schema["paths"]["/v1/score"]["post"]["responses"]
    assert responses["422"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorResponse")
    assert {"413", "503"} <= set(responses)
