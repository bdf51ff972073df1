"""Drift without labels: PSI, the human share against the target, unscored languages; in /metrics
and on the ops page."""

from __future__ import annotations

import asyncio
import re
import time

import httpx
import numpy as np
import pytest

from service.config import Settings
from service.main import create_app
from service.model.drift import psi, shares

pytestmark = pytest.mark.anyio
GERMAN = (
    "Sehr geehrte Damen und Herren, ich warte seit drei Wochen auf meine Rechnung und niemand antwortet mir."
)


def test_psi_is_zero_for_the_same_distribution_and_large_for_a_shifted_one() -> None:
    rng = np.random.default_rng(1)
    reference = shares(rng.beta(2, 5, 5_000))
    assert psi(reference, shares(rng.beta(2, 5, 5_000))) < 0.02
    assert psi(reference, shares(rng.beta(5, 2, 5_000))) > 0.25
    assert shares(np.array([0.0, 0.05, 1.0]))[-1] == pytest.approx(1 / 3, abs=1e-6)


async def test_a_shifted_stream_raises_visible_warnings(settings: Settings, database_url: str) -> None:
    app = create_app(
        settings.model_copy(
            update={"database_url": database_url, "drift_min_tickets": 20, "drift_interval_seconds": 0.2}
        )
    )
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://t") as c,
    ):
        assert app.state.scorer.model.metadata["score_reference"]["bins"] == 10
        for i in range(30):  # all routine and short: far fewer to a person than the 20% target
            await c.post("/v1/score", json={"id": f"r-{i}", "text": f"Could you send me invoice {i} again?"})
        for i in range(10):
            await c.post("/v1/score", json={"id": f"de-{i}", "text": f"{GERMAN} ({i})"})
        deadline = time.monotonic() + 60  # a bound for a stuck worker thread, not a speed check
        while True:
            metrics = (await c.get("/metrics")).text
            found = re.search(r"^triage_drift_window_tickets (\S+)$", metrics, re.M)
            if found and float(found.group(1)) == 40:
                break
            assert time.monotonic() < deadline, "the drift gauges were not updated"
            await asyncio.sleep(0.1)
        assert 'triage_drift_psi{dimension="needs_human"}' in metrics
        assert 'triage_drift_language_share{language="de"} 0.25' in metrics
        warnings = float(re.search(r"^triage_drift_warnings (\S+)$", metrics, re.M).group(1))  # type: ignore[union-attr]
        assert warnings >= 1

        login = await c.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', login.text).group(1)  # type: ignore[union-attr]
        await c.post("/login", data={"csrf_token": token, "name": "olga"})
        page = await c.get("/ops")
        assert page.status_code == 200 and "Drift warnings" in page.text
        assert "languages the model does not score" in page.text and "25.0%" in page.text
        assert "<td>1</td><td>champion</td>" in page.text  # the registry, beside the drift figures
