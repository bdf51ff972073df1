"""The fault script: its checks catch what they are meant to, and its smoke mode passes on PostgreSQL.

The smoke run starts ``triage serve --workers 2`` on the test PostgreSQL database
(``TRIAGE_TEST_POSTGRES_URL``), kills its process group with SIGKILL under load, restarts it and
checks the database; it is skipped, with the reason, where no server answers.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from service.config import Settings
from service.main import create_app

REPO = Path(__file__).resolve().parents[2]
POSTGRES_URL = os.environ.get("TRIAGE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
ANGRY = "This is the third time I write. My mother passed away and you keep sending her bills. I am furious."


def _fault_checks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fault_checks", REPO / "bench" / "fault_checks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _postgres_reason(url: str) -> str | None:
    try:
        engine = create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect():
            pass
        engine.dispose()
    except OperationalError as exc:
        return f"PostgreSQL not reachable at {url.split('@')[-1]}: {str(exc).splitlines()[0]}"
    return None


@pytest.mark.anyio
async def test_the_checks_count_lost_doubled_and_inconsistent_rows(
    settings: Settings, tmp_path: Path
) -> None:
    checks = _fault_checks()
    url = f"sqlite:///{tmp_path / 'triage.db'}"
    app = create_app(settings.model_copy(update={"database_url": url}))
    acked: dict[tuple[str, str], dict[str, object]] = {}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        for i, words in enumerate((ANGRY, "What are your opening hours on Saturday?", ANGRY)):
            answer = (
                await client.post("/v1/score", json={"id": f"t{i}", "source": "s", "text": words})
            ).json()
            acked[("s", f"t{i}")] = {k: answer[k] for k in ("route", "needs_human", "priority")}
    assert acked[("s", "t0")]["route"] == "human"
    once = Counter(list(acked))
    clean = checks.check_database(url, acked, once, once, {})
    assert clean["stored"] == 3 and not any(clean["violations"].values())

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "DELETE FROM queue_items WHERE ticket_id = (SELECT id FROM tickets WHERE external_id = 't0')"
            )
        )
        conn.execute(text("UPDATE tickets SET needs_human = 0.5 WHERE external_id = 't1'"))
        conn.execute(text("UPDATE tickets SET times_scored = 2 WHERE external_id = 't2'"))
        conn.execute(text("UPDATE queue_items SET status = 'lost'"))
    engine.dispose()
    lost = {**acked, ("s", "never-stored"): {"route": "human", "needs_human": 0.9, "priority": "high"}}
    found = checks.check_database(url, lost, once, once, {"k1": [("s", "t1")]})
    assert found["violations"] == {
        "duplicates": 0,
        "missing": 1,
        "stored_scores_differ_from_answer": 1,
        "scores_absent": 0,
        "scored_fewer_times_than_acknowledged": 0,
        "scored_more_times_than_sent": 1,
        "history_differs_from_times_scored": 1,
        "score_events_without_ticket": 0,
        "human_ticket_without_one_queue_item": 1,
        "key_response_missing_or_wrong": 1,
        "queue_item_bad_status": 1,
    }
    assert found["scored_more_than_acknowledged"] == 1


def test_a_sigkill_mid_load_loses_and_doubles_nothing(tmp_path: Path) -> None:
    reason = _postgres_reason(POSTGRES_URL)
    if reason is not None:
        pytest.skip(reason)
    out = tmp_path / "faults.json"
    run = subprocess.run(
        [sys.executable, str(REPO / "bench" / "faults.py"), "--smoke", "--database-url", POSTGRES_URL, "--json-out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    summary = json.loads(out.read_text())
    assert summary["tickets_sent"] == summary["acknowledged"] == summary["stored"] == 2000
    assert (summary["duplicates"], summary["missing"], summary["inconsistent"]) == (0, 0, 0)
    assert summary["violations"] == {}
    # The kill hit a master, two workers and requests in flight, and a share went to the queue.
    [kill] = summary["kills"]
    assert kill["processes"] >= 3 and kill["in_flight"] > 0 and kill["survivors"] == 0
    assert 0 < summary["queue_items"] < summary["stored"]
    _reset(POSTGRES_URL)


def _reset(url: str) -> None:
    _fault_checks().reset_database(url)
