"""The ``triage`` command: train, evaluate, score and score-file."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

import training.score_file
from service.config import get_settings
from service.model.labelled import LabelledTicket
from service.scoring.engine import score_ticket
from service.scoring.schemas import TicketScoreRequest
from tests.service.model.test_serving import OTHER_LANGUAGES
from training.cli import ScorerSource, app, build_scorer, scorer_from
from training.score_file import SCORE_FILE_CHUNK

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tiny_models_dir: Path) -> None:
    monkeypatch.setenv("TRIAGE_MODELS_DIR", str(tiny_models_dir))
    monkeypatch.setenv("TRIAGE_MODEL_NAME", "tiny")
    monkeypatch.setenv("TRIAGE_POLICY_PATH", str(REPO / "policy.toml"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def write_rows(path: Path, rows: list[LabelledTicket]) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(
                json.dumps(
                    {
                        "id": r.id,
                        "text": r.text,
                        "subject": r.subject,
                        "language": r.language,
                        **{k: r.labels[k] for k in ("emotional", "complex", "nuanced")},
                    }
                )
                + "\n"
            )
    return path


def test_train_custom_writes_a_bundle(tmp_path: Path, seed_rows: list[LabelledTicket]) -> None:
    data = write_rows(tmp_path / "mine.jsonl", seed_rows[1::5])
    out = tmp_path / "models"
    result = runner.invoke(
        app,
        [
            "train",
            "--data",
            str(data),
            "--models-dir",
            str(out),
            "--name",
            "mine",
            "--version",
            "v1",
            "--target-recall",
            "0.8",
        ],
    )
    assert result.exit_code == 0, result.output
    bundle = out / "mine" / "v1"
    assert {p.name for p in bundle.iterdir()} == {"model.skops", "metadata.json", "MODEL_CARD.md"}
    meta = json.loads((bundle / "metadata.json").read_text())
    assert meta["recipe"]["target_recall"] == 0.8
    assert meta["recipe"]["target_share"] is None
    assert meta["training_data"][0]["sha256"]
    assert meta["public_data"] is None
    assert "cross-validation fold" in result.output  # progress
    again = runner.invoke(
        app, ["train", "--data", str(data), "--models-dir", str(out), "--name", "mine", "--version", "v1"]
    )
    assert again.exit_code == 1
    assert "exists already" in again.output


def test_train_refuses_invalid_data_and_writes_nothing(tmp_path: Path) -> None:
    data = tmp_path / "bad.csv"
    data.write_text("text,emotional,complex,nuanced\nhello,0,0,2\n,0,0,0\n", encoding="utf-8")
    out = tmp_path / "models"
    result = runner.invoke(app, ["train", "--data", str(data), "--models-dir", str(out)])
    assert result.exit_code == 2
    assert f"{data}:2: nuanced: label must be 0 or 1" in result.output
    assert f"{data}:3: text: empty or not a string" in result.output
    assert not out.exists()


def test_evaluate_writes_a_report(tmp_path: Path, env: None, seed_rows: list[LabelledTicket]) -> None:
    data = write_rows(tmp_path / "eval.jsonl", seed_rows[2::7])
    result = runner.invoke(app, ["evaluate", "--data", str(data), "--out", str(tmp_path / "report")])
    assert result.exit_code == 0, result.output
    files = {p.name for p in (tmp_path / "report").iterdir()}
    assert files == {"summary.md", "metrics.json", "pr_curve.png", "calibration.png"}
    assert (tmp_path / "report" / "pr_curve.png").read_bytes()[:4] == b"\x89PNG"
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert set(metrics["by_language"]) == {"en", "nl"}
    for key in ("roc_auc", "pr_auc", "precision", "recall", "brier", "ece"):
        assert metrics["overall"]["needs_human"][key] is not None
    assert "| overall | needs_human |" in result.output


def test_evaluate_held_out_keeps_only_held_out_rows(
    tmp_path: Path, env: None, seed_rows: list[LabelledTicket]
) -> None:
    data = write_rows(tmp_path / "all.jsonl", seed_rows[::4])  # the tiny model's own data
    result = runner.invoke(app, ["evaluate", "--data", str(data), "--held-out", "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    n = json.loads((tmp_path / "r" / "metrics.json").read_text())["overall"]["needs_human"]["n"]
    assert n == math.ceil(len(seed_rows[::4]) * 0.25)  # train_test_split rounds the test part up


def test_score_prints_a_readable_decision(env: None) -> None:
    result = runner.invoke(
        app, ["score", "My husband passed away and I cannot pay this bill", "--previous-contacts", "3"]
    )
    assert result.exit_code == 0, result.output
    assert "route:       human" in result.output
    assert "because rule bereavement: 'husband passed'" in result.output
    assert "because rule repeat_contact" in result.output
    as_json = runner.invoke(app, ["score", "hello, what are your opening hours?", "--json"])
    assert json.loads(as_json.output)["model_version"] == "1"


def test_score_file_streams_results_aligned_with_input(tmp_path: Path, env: None) -> None:
    src = tmp_path / "in.jsonl"
    lines = [
        {"id": "a", "text": "Waar blijft mijn pakket?"},
        {"id": "b", "text": "", "subject": "x"},
        {"id": "c", "text": "I will take you to court over this", "customer": {"tier": "gold"}},
    ]
    src.write_text("\n".join(json.dumps(x) for x in lines) + "\nnot json\n", encoding="utf-8")
    dst = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["score-file", str(src), str(dst)])
    assert result.exit_code == 1
    out = [json.loads(line) for line in dst.read_text().splitlines()]
    assert [o.get("id") for o in out] == ["a", "b", "c", None]
    assert out[0]["route"] in {"human", "automation"}
    assert "error" not in out[0]
    assert out[1]["line"] == 2
    assert "text" in out[1]["error"]
    assert out[2]["rules"] == ["legal_threat"]
    assert out[3]["line"] == 4
    assert "scored 2 ticket(s), 2 invalid line(s)" in result.output


def test_score_file_survives_bad_bytes_and_refuses_to_overwrite_its_input(tmp_path: Path, env: None) -> None:
    src = tmp_path / "in.jsonl"
    src.write_bytes(b'\xff{"text": "a"}\n{"id": "ok", "text": "Waar blijft mijn pakket?"}\n')
    dst = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["score-file", str(src), str(dst)])
    assert result.exit_code == 1
    out = [json.loads(line) for line in dst.read_text().splitlines()]
    assert out[0] == {"line": 1, "id": None, "error": "line is not UTF-8 text"}
    assert out[1]["id"] == "ok"
    same = runner.invoke(app, ["score-file", str(src), str(src)])
    assert same.exit_code == 1 and "same file" in same.output
    assert src.read_bytes().startswith(b"\xff")
    missing = runner.invoke(app, ["score-file", str(tmp_path / "nope.jsonl"), str(dst)])
    assert missing.exit_code == 1 and "no such file" in missing.output


def test_unknown_model_is_a_clear_error(env: None) -> None:
    result = runner.invoke(app, ["score", "hello", "--model", "nothing"])
    assert result.exit_code == 1
    assert "no such model" in result.output


def test_train_refuses_data_a_head_cannot_learn_from(tmp_path: Path) -> None:
    rows = [
        {"text": f"vraag nummer {i}", "emotional": i % 2, "complex": 0, "nuanced": i % 3 == 0}
        for i in range(60)
    ]
    data = tmp_path / "flat.jsonl"
    data.write_text(
        "".join(json.dumps({**r, "nuanced": int(r["nuanced"])}) + "\n" for r in rows), encoding="utf-8"
    )
    result = runner.invoke(app, ["train", "--data", str(data), "--models-dir", str(tmp_path / "m")])
    assert result.exit_code == 2
    assert "complex: needs at least 10 rows labelled 1 and 10 labelled 0, found 0 and 60" in result.output
    assert not (tmp_path / "m").exists()


def test_train_option_conflicts(tmp_path: Path) -> None:
    both = runner.invoke(
        app, ["train", "--data", "x.jsonl", "--target-share", "0.2", "--target-recall", "0.9"]
    )
    assert both.exit_code == 1 and "not both" in both.output
    missing = runner.invoke(app, ["train", "--recipe", "default", "--public-data", str(tmp_path / "nope")])
    assert missing.exit_code == 1 and "no such folder" in missing.output


def test_score_file_writes_exactly_what_scoring_each_ticket_gives(
    tmp_path: Path, env: None, seed_rows: list[LabelledTicket]
) -> None:
    """score-file scores in chunks with one compiled call each and writes JSON without pydantic
    objects; every line must still be the byte-for-byte JSON of score_ticket for that ticket."""
    rows = seed_rows[: 2 * SCORE_FILE_CHUNK + 300]
    bodies = [
        {
            "id": r.id,
            "text": r.text,
            **({"subject": r.subject} if r.subject else {}),
            **({"language": r.language} if i % 3 == 0 and r.language else {}),
            **({"previous_contacts": i % 5} if i % 7 == 0 else {}),
            **({"customer": {"tier": "gold"}} if i % 11 == 0 else {}),
        }
        for i, r in enumerate(rows)
        if r.text.strip()
    ]
    bodies += [{"id": f"x{i}", "text": t} for i, t in enumerate(OTHER_LANGUAGES)]
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(json.dumps(b, ensure_ascii=False) for b in bodies) + "\n", encoding="utf-8")
    dst = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["score-file", str(src), str(dst)])
    assert result.exit_code == 0, result.output
    scorer = build_scorer(None)
    expected = [
        score_ticket(scorer=scorer, ticket=TicketScoreRequest.model_validate(b)).model_dump_json()
        for b in bodies
    ]
    assert len(expected) > 2 * SCORE_FILE_CHUNK
    # Split on newlines only: a text's U+2028 stays raw in the JSON, and splitlines() would cut there.
    assert dst.read_bytes().decode("utf-8").split("\n") == [*expected, ""]


def test_score_file_in_worker_processes_writes_what_one_process_writes(
    tmp_path: Path, env: None, seed_rows: list[LabelledTicket], monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = [json.dumps({"id": r.id, "text": r.text}, ensure_ascii=False) for r in seed_rows[:1300]]
    lines[5] = "not json"
    lines[700] = ""  # blank lines give no output line
    lines[1100] = json.dumps({"id": "e", "text": ""})
    src = tmp_path / "in.jsonl"
    src.write_bytes(("\n".join(lines) + "\n").encode("utf-8") + b"\xff\n")
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    alone = runner.invoke(app, ["score-file", str(src), str(one)])

    def not_here(*args: object) -> None:
        raise AssertionError("with --workers 2 the chunks are scored in the worker processes")

    monkeypatch.setattr(training.score_file, "score_chunk", not_here)  # spawned workers import their own
    pooled = runner.invoke(app, ["score-file", str(src), str(two), "--workers", "2"])
    assert alone.exit_code == pooled.exit_code == 1
    assert "scored 1297 ticket(s), 3 invalid line(s)" in pooled.output
    assert two.read_bytes() == one.read_bytes()
    out = one.read_bytes().decode("utf-8").split("\n")
    assert len(out) == 1300 + 1  # 1,299 non-blank lines and the bad bytes, then the final newline
    assert json.loads(out[-2]) == {"line": 1301, "id": None, "error": "line is not UTF-8 text"}
    for workers in ("1", "2"):  # a wrong model changes nothing: OUT is not even created
        never = tmp_path / f"never-{workers}.jsonl"
        missing = runner.invoke(
            app, ["score-file", str(src), str(never), "--workers", workers, "--model", "nothing"]
        )
        assert missing.exit_code == 1 and "no such model" in missing.output
        assert not never.exists()


def test_score_file_reads_a_file_saved_with_a_byte_order_mark(tmp_path: Path, env: None) -> None:
    src = tmp_path / "in.jsonl"
    lines = [
        json.dumps({"id": "a", "text": "where is my parcel?"}),
        json.dumps({"id": "b", "text": "thanks!"}),
    ]
    src.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).encode("utf-8") + b"\r\n")
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["score-file", str(src), str(out)])
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["id"] for line in out.read_text(encoding="utf-8").splitlines()] == ["a", "b"]


def test_score_file_checks_the_policy_before_opening_out(
    tmp_path: Path, env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"text": "where is my parcel?"}) + "\n", encoding="utf-8")
    bad = tmp_path / "policy.toml"
    bad.write_text("[routing]\nthreshold = 'sometimes'\n", encoding="utf-8")
    monkeypatch.setenv("TRIAGE_POLICY_PATH", str(bad))
    get_settings.cache_clear()
    for workers in ("1", "2"):  # with workers, the policy was first read in them, after OUT was emptied
        out = tmp_path / f"out-{workers}.jsonl"
        out.write_text("PRECIOUS\n", encoding="utf-8")
        result = runner.invoke(app, ["score-file", str(src), str(out), "--workers", workers])
        assert result.exit_code == 1 and "policy.toml" in result.output, result.output
        assert "Traceback" not in result.output
        assert out.read_text(encoding="utf-8") == "PRECIOUS\n"


def test_score_file_workers_build_from_the_model_and_policy_resolved_at_the_start(
    tmp_path: Path, env: None, tiny_models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = ScorerSource.resolve(None)  # the newest tiny version, as a folder
    policy = tmp_path / "policy.toml"
    policy.write_text(source.policy_text, encoding="utf-8")
    monkeypatch.setenv("TRIAGE_POLICY_PATH", str(policy))
    get_settings.cache_clear()
    newer = tiny_models_dir / "tiny" / "99999999"
    shutil.copytree(Path(source.model_dir), newer)
    try:
        assert Path(ScorerSource.resolve(None).model_dir).name == "99999999"  # what a late worker would find
        policy.write_text("this is no longer a policy", encoding="utf-8")
        # A worker starting now (workers start as the pool needs them) builds what the run began with.
        scorer = scorer_from(source)
        assert Path(source.model_dir).name == "1" and scorer.model_version == "1"
    finally:
        shutil.rmtree(newer)
