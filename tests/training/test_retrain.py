"""``triage retrain``: feedback laid over the original rows, a candidate registered, nothing promoted."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from service.config import Settings, get_settings
from service.main import create_app
from service.model.labelled import LabelledTicket, read_labelled_file
from service.registry import repository
from training.cli import app
from training.retrain import merge_feedback, write_rows

runner = CliRunner()
FLAGGED = "This is the third time I write. My mother passed away and you keep sending her bills."


def ticket(text: str, **labels: int | None) -> LabelledTicket:
    full = {"emotional": 0, "complex": 0, "nuanced": 0, "needs_human": 0, **labels}
    return LabelledTicket(
        text=text, labels=full, source="seed", id=f"s-{abs(hash(text)) % 1000}", language="en"
    )


def test_feedback_labels_win_and_blank_corrections_keep_the_original(tmp_path: Path) -> None:
    original = [ticket("Where is my parcel?", complex=1), ticket("Please close my account.")]
    feedback = [
        {
            "id": "ZD-1",
            "source": "zendesk",
            "text": "Where is my parcel?",
            "subject": "",
            "language": "en",
            "emotional": 1,
            "complex": "",
            "nuanced": "",
            "needs_human": 1,
        },
        {
            "id": "ZD-2",
            "source": "zendesk",
            "text": FLAGGED,
            "subject": "",
            "language": "en",
            "emotional": "",
            "complex": "",
            "nuanced": "",
            "needs_human": 1,
        },
    ]
    rows, relabelled = merge_feedback(original, feedback)
    assert relabelled == 1 and len(rows) == 3
    parcel = next(r for r in rows if r["text"] == "Where is my parcel?")
    assert (parcel["emotional"], parcel["complex"], parcel["needs_human"]) == (1, 1, 1)
    assert parcel["id"] == "feedback:zendesk:ZD-1"
    out = tmp_path / "merged.csv"
    write_rows(rows, out)
    read = {r.text: r for r in read_labelled_file(out)}
    assert read[FLAGGED].labels["emotional"] is None and read[FLAGGED].labels["needs_human"] == 1


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, tiny_models_dir: Path) -> Iterator[Settings]:
    models = tmp_path / "models"
    (models / "tiny").mkdir(parents=True)
    (models / "tiny" / "1").symlink_to(tiny_models_dir / "tiny" / "1")
    for key, value in {
        "TRIAGE_DATA_DIR": str(tmp_path / "data"),
        "TRIAGE_MODELS_DIR": str(models),
        "TRIAGE_MODEL_NAME": "tiny",
        "TRIAGE_POLICY_PATH": str(Path(__file__).resolve().parents[2] / "policy.toml"),
    }.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


@pytest.mark.anyio
async def test_retrain_registers_a_candidate_and_promotes_nothing(
    env: Settings, tmp_path: Path, seed_rows: list[LabelledTicket]
) -> None:
    data = tmp_path / "original.jsonl"
    with data.open("w") as fh:
        for row in seed_rows[::4]:
            labels = {k: row.labels[k] for k in ("emotional", "complex", "nuanced")}
            fh.write(json.dumps({"id": row.id, "language": row.language, "text": row.text, **labels}) + "\n")
    nothing = runner.invoke(app, ["retrain", "--recipe", "custom", "--data", str(data)])
    assert nothing.exit_code == 1 and "no feedback" in nothing.output

    service = create_app(env)  # the first start registers tiny/1 as champion
    async with (
        service.router.lifespan_context(service),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=service), base_url="http://t") as client,
    ):
        await client.post("/v1/score", json={"id": "R-1", "text": FLAGGED})
        await client.post("/v1/score", json={"id": "R-2", "text": "Where is my parcel?"})
        await client.post("/v1/feedback", json={"id": "R-2", "corrections": {"complex": 1}})
        item = (await client.get("/v1/queue")).json()["items"][0]["id"]
        await client.post(f"/v1/queue/{item}/feedback", json={"agent": "ann", "flag_correct": False})

    result = runner.invoke(app, ["retrain", "--recipe", "custom", "--data", str(data), "--actor", "olga"])
    assert result.exit_code == 0, result.output
    assert f"{len(seed_rows[::4])} original rows + 2 with feedback" in result.output
    assert "registered tiny/" in result.output and "as a candidate" in result.output
    from service.storage.database import database_url, make_engine, session_factory

    engine = make_engine(database_url(None, env.data_dir))
    with session_factory(engine)() as session:
        versions = {r.version: r.status for r in repository.list_versions(session, "tiny")}
    engine.dispose()
    assert versions["1"] == "champion" and sorted(versions.values()) == ["candidate", "champion"]
