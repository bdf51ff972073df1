"""Outcomes in, and the connection dashboard's figures: shares, timings, precision, misses, CSAT."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.anyio
FLAGGED = "This is the third time I write. My mother passed away and you keep sending her bills."
ROUTINE = "Could you send me a copy of my invoice, please?"


async def test_outcomes_are_checked_and_stored(stored_client: httpx.AsyncClient) -> None:
    c = stored_client
    assert (await c.post("/v1/outcomes", json={"id": "nope", "csat": 3})).status_code == 404
    await c.post("/v1/score", json={"id": "O-1", "text": ROUTINE})
    empty = await c.post("/v1/outcomes", json={"id": "O-1"})
    assert empty.status_code == 422
    for bad in ({"id": "O-1", "csat": 6}, {"id": "O-1", "csat": "5"}, {"id": "O-1", "csat": 4, "extra": 1}):
        assert (await c.post("/v1/outcomes", json=bad)).status_code == 422
    done = await c.post("/v1/outcomes", json={"id": "O-1", "csat": 4, "reopened": False})
    assert done.status_code == 201 and done.json()["csat"] == 4


async def test_the_dashboard_connects_flags_to_outcomes(stored_client: httpx.AsyncClient) -> None:
    c = stored_client
    for i in range(3):
        assert (await c.post("/v1/score", json={"id": f"F-{i}", "text": f"{FLAGGED} ({i})"})).json()[
            "route"
        ] == "human"
    automated = [f"A-{i}" for i in range(4)]
    routes = [
        (await c.post("/v1/score", json={"id": t, "text": f"{ROUTINE} ({t})"})).json()["route"]
        for t in automated
    ]
    items = (await c.get("/v1/queue")).json()["items"]
    first, second = items[0]["id"], items[1]["id"]
    await c.post(f"/v1/queue/{first}/claim", json={"agent": "ann"})
    await c.post(f"/v1/queue/{first}/resolve", json={"agent": "ann", "outcome": "resolved"})
    await c.post(f"/v1/queue/{first}/feedback", json={"agent": "ann", "flag_correct": True})
    await c.post(f"/v1/queue/{second}/feedback", json={"agent": "ann", "flag_correct": False})
    await c.post("/v1/feedback", json={"id": "A-0", "note": "needed a person"})
    for ticket, csat, reopened in (("F-0", 5, False), ("F-1", 4, None), ("A-0", 2, True), ("A-1", 4, False)):
        assert (
            await c.post("/v1/outcomes", json={"id": ticket, "csat": csat, "reopened": reopened})
        ).status_code == 201
    await c.post("/v1/outcomes", json={"id": "F-1", "reopened": True})  # a later report adds to the first

    data = (await c.get("/v1/dashboard")).json()
    human = 3 + routes.count("human")
    assert data["tickets"] == 7 and data["human"] == human and data["human_share"] == round(human / 7, 4)
    assert sum(d["tickets"] for d in data["days"]) == 7
    assert data["to_claim"]["count"] == 1 and data["to_resolution"]["count"] == 1
    assert data["to_claim"]["median_minutes"] >= 0
    assert (data["verdicts"], data["flags_confirmed"], data["precision"]) == (2, 1, 0.5)
    assert data["missed"] == 1 and data["recall_proxy"] == 0.5
    groups = {(g["route"], g["group"]): g for g in data["outcomes"]}
    flagged = groups[("human", "all")]
    assert flagged["csat_mean"] == 4.5 and flagged["reopen_rate"] == 0.5 and flagged["reopen_count"] == 2
    if routes[:2] == ["automation", "automation"]:
        kept = groups[("automation", "all")]
        assert kept["csat_mean"] == 3.0 and kept["reopen_rate"] == 0.5
    assert ("human", "language:en") in groups and any(g.startswith("dimension:") for _, g in groups)
    if routes[:2] == ["automation", "automation"]:  # automated tickets are compared per dimension too
        assert any(r == "automation" and g.startswith("dimension:") for r, g in groups)
    bad = await c.get(
        "/v1/dashboard", params={"start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"}
    )
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_period"
    nothing = (
        await c.get("/v1/dashboard", params={"start": "2020-01-01T00:00:00Z", "end": "2020-02-01T00:00:00Z"})
    ).json()
    assert nothing["tickets"] == 0 and nothing["human_share"] is None and nothing["outcomes"] == []


@pytest.mark.parametrize(
    "query",
    [
        {"end": "0001-01-01T06:01:14Z"},
        {"start": "0001-01-01T00:00:00+05:00", "end": "0001-02-01T00:00:00Z"},
        {"end": "9999-12-31T23:59:59-05:00"},
    ],
)
async def test_dates_at_the_edge_of_the_calendar_are_a_422(
    stored_client: httpx.AsyncClient, query: dict[str, str]
) -> None:
    r = await stored_client.get("/v1/dashboard", params=query)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_period"
