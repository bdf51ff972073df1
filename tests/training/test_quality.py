"""``triage quality``: metrics checked by hand, the CFPB ordering check, and whole runs on synthetic public data."""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from service.model.bundle import HEADS, TriageModel, load_bundle
from service.model.labelled import LabelledTicket
from training.cli import app
from training.evaluate import label_matrix
from training.peers import PRIMARY, OurModel, PeerUnavailable, Scorer, TfidfPeer, VaderPeer, two_sided
from training.pipeline import train_bundle
from training.public_data import PublicData
from training.quality import (
    EvalSet,
    QualityRun,
    cfpb_by_issue,
    changed_public_files,
    markdown,
    precision_at_top,
    quality_metrics,
    run_quality,
    tabulate,
    training_rows,
)
from training.train import Recipe

TINY_RECIPE = Recipe(name="tiny", bits=14, folds=3, test_size=0.25)  # as tests/conftest.py
SET_NAMES = {"seed held-out", "airline tweets", "XED nl split", "GoEmotions test", "CFPB split"}
runner = CliRunner()


def ticket(text: str, **labels: int | None) -> LabelledTicket:
    full: dict[str, int | None] = dict.fromkeys(HEADS)
    full.update(labels)
    return LabelledTicket(text=text, labels=full, source="test", language="en")


def write_rows(path: Path, rows: Sequence[LabelledTicket]) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        for r in rows:
            record = {"id": r.id, "text": r.text, "subject": r.subject, "language": r.language}
            fh.write(
                json.dumps({**record, **{k: r.labels[k] for k in ("emotional", "complex", "nuanced")}}) + "\n"
            )
    return path


def _quiet(_: str) -> None:
    pass


# --- metrics, by hand ---------------------------------------------------------------------------


def test_precision_at_top() -> None:
    y = np.array([0, 1, 1, 0, 0, 0, 0, 0, 0, 1])
    p = np.array([0.9, 0.8, 0.1, 0.2, 0.3, 0.3, 0.2, 0.1, 0.0, 0.05])
    assert precision_at_top(y, p) == 0.5  # the top 2 of 10: rows 0 and 1
    assert precision_at_top(y, p, share=0.1) == 0.0
    assert precision_at_top(y, p, share=0.25) == pytest.approx(1 / 3)  # 3 rows; one slot for two tied 0.3s
    # Tied rows share the slots left pro rata, whatever their order; at least one row is taken,
    # and a share is rounded up.
    assert precision_at_top(np.array([0, 1, 1, 0, 0]), np.full(5, 0.5), share=0.4) == pytest.approx(0.4)
    assert precision_at_top(np.array([1, 0, 0, 0]), np.full(4, 0.5), share=0.25) == 0.25
    assert precision_at_top(np.array([0, 0, 0, 1]), np.full(4, 0.5), share=0.25) == 0.25
    y_tie, p_tie = np.array([1, 1, 0, 0, 0, 1]), np.array([0.9, 0.5, 0.5, 0.5, 0.5, 0.1])
    assert precision_at_top(y_tie, p_tie, share=0.5) == pytest.approx((1 + 2 * 0.25) / 3)
    assert precision_at_top(y_tie[::-1], p_tie[::-1], share=0.5) == pytest.approx((1 + 2 * 0.25) / 3)
    assert precision_at_top(np.array([1, 0, 0]), np.array([0.2, 0.1, 0.3])) == 0.0
    assert precision_at_top(np.array([1, 0, 0, 0, 0, 0]), np.array([0.9, 0.1, 0.1, 0.1, 0.1, 0.8])) == 0.5


def test_quality_metrics_by_hand() -> None:
    y = np.array([0, 0, 1, 1])
    p = np.array([0.15, 0.45, 0.35, 0.85])
    # ROC-AUC: 3 of the 4 (positive, negative) pairs ordered. PR-AUC: precision 1 at recall 0.5,
    # 2/3 at recall 1. Top 20% of 4 rows is one row, a positive. Brier: mean squared error.
    # ECE: every row in its own bin, so the mean |y - p|.
    assert quality_metrics(y, p, probabilistic=True) == {
        "n": 4,
        "positives": 2,
        "roc_auc": 0.75,
        "pr_auc": 0.8333,
        "precision_top20": 1.0,
        "brier": 0.1675,
        "ece": 0.35,
    }
    ranking = quality_metrics(y, p, probabilistic=False)
    assert "brier" not in ranking
    assert "ece" not in ranking
    assert ranking["roc_auc"] == 0.75


@pytest.mark.parametrize("y", [[0, 0, 0], [1, 1, 1], []])
def test_quality_metrics_single_class_gives_counts_only(y: list[int]) -> None:
    labels = np.array(y, dtype=int)
    metrics = quality_metrics(labels, np.linspace(0, 1, len(y)), probabilistic=True)
    assert metrics == {"n": len(y), "positives": sum(y)}


# --- tabulate and the CFPB check, on hand-built runs --------------------------------------------


def test_tabulate_skips_heads_a_scorer_does_not_give() -> None:
    rows = [
        ticket("a", emotional=1, needs_human=1),
        ticket("b", emotional=0),
        ticket("c", emotional=1, needs_human=1),
        ticket("d", emotional=0),
        ticket("e"),  # no emotional label: left out
    ]
    s = EvalSet("tweets", "", rows, (("emotional", "emotional"), ("needs_human", "emotional")))
    full = np.array(
        [[0.9, 0.1, 0.1, 0.8], [0.2, 0.1, 0.1, 0.3], [0.6, 0.1, 0.1, 0.7], [0.4, 0.1, 0.1, 0.2], [0.5] * 4]
    )
    vader = np.full((5, 4), np.nan)
    vader[:, 0] = [0.5, 0.6, 0.9, 0.1, 0.5]
    run = QualityRun(
        sets=[s],
        scores={"ours": {"tweets": full}, "vader": {"tweets": vader}},
        probabilistic={"ours": True, "vader": False},
    )
    records = tabulate(run)
    assert [(r["score"], r["label"], r["scorer"]) for r in records] == [
        ("emotional", "emotional", "ours"),
        ("emotional", "emotional", "vader"),
        ("needs_human", "emotional", "ours"),
    ]
    assert all(r["n"] == 4 and r["positives"] == 2 for r in records)
    assert records[0]["roc_auc"] == 1.0
    assert records[1]["roc_auc"] == 0.75
    assert "brier" in records[0]
    assert "brier" not in records[1]
    assert "ece" not in records[1]


def cfpb_run(means: dict[str, float], sizes: dict[str, int] | None = None) -> QualityRun:
    """A CFPB set whose Issues have the given mean complex score; 3 rows per Issue score high on needs_human."""
    rows, scores = [], []
    for issue, mean in means.items():
        for i in range((sizes or {}).get(issue, 6)):
            rows.append(
                LabelledTicket(
                    text=f"{issue} {i}",
                    labels={"emotional": None, "complex": 1, "nuanced": None, "needs_human": 1},
                    source="cfpb",
                    extra={"issue": issue},
                )
            )
            scores.append([np.nan, mean + (0.01 if i % 2 else -0.01), np.nan, 0.9 if i < 3 else 0.1])
    s = EvalSet("CFPB split", "", rows, (("complex", "complex"),))
    return QualityRun(
        sets=[s], scores={"ticket-triage": {s.name: np.array(scores)}}, probabilistic={"ticket-triage": True}
    )


def test_cfpb_by_issue_ordering_holds() -> None:
    run = cfpb_run(
        {
            "Incorrect information on your report": 0.2,
            "Fraud or scam": 0.8,
            "Some issue in neither list": 0.5,
            "Attempts to collect debt not owed": 0.6,
            "Struggling to pay mortgage": 0.99,  # too few rows to show
        },
        sizes={"Some issue in neither list": 5, "Struggling to pay mortgage": 4},
    )
    found = cfpb_by_issue(run, "ticket-triage", threshold=0.5)
    assert [(r["issue"], r["n"], r["expected"]) for r in found["issues"]] == [
        ("Fraud or scam", 6, "higher"),
        ("Attempts to collect debt not owed", 6, "higher"),
        ("Some issue in neither list", 5, ""),
        ("Incorrect information on your report", 6, "lower"),
    ]
    assert [r["complex_mean"] for r in found["issues"]] == [0.8, 0.6, 0.498, 0.2]
    assert [r["human_share"] for r in found["issues"]] == [0.5, 0.5, 0.6, 0.5]
    assert (found["ordered_pairs"], found["pairs"], found["holds"]) == (2, 2, True)
    text = markdown(run, [], found)
    assert "ordering holds for 2 of 2" in text
    assert "| Fraud or scam | 6 | higher | 50% | 0.800 |" in text


def test_cfpb_by_issue_ordering_fails() -> None:
    run = cfpb_run(
        {"Fraud or scam": 0.8, "Attempts to collect debt not owed": 0.1, "Managing an account": 0.3}
    )
    found = cfpb_by_issue(run, "ticket-triage", threshold=0.5)
    assert (found["ordered_pairs"], found["pairs"], found["holds"]) == (1, 2, False)
    only_higher = cfpb_by_issue(cfpb_run({"Fraud or scam": 0.8}), "ticket-triage", threshold=0.5)
    assert (only_higher["pairs"], only_higher["holds"]) == (0, False)
    assert cfpb_by_issue(QualityRun(sets=[]), "ticket-triage", threshold=0.5) == {}


# --- a whole run: a tiny model trained with the synthetic public data, and its peers ------------


class Recorder:
    """A peer that keeps what it was fitted on and gives no scores."""

    name = "recorder"
    probabilistic = True

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.labels = np.zeros((0, len(HEADS)))
        self.weights = np.zeros(0)

    def fit(self, texts: Sequence[str], labels: np.ndarray, weights: np.ndarray) -> None:
        self.texts, self.labels, self.weights = list(texts), labels, weights

    def score(self, texts: Sequence[str]) -> np.ndarray:
        return np.full((len(texts), len(HEADS)), np.nan)


@pytest.fixture(scope="module")
def trained(
    tmp_path_factory: pytest.TempPathFactory, seed_rows: list[LabelledTicket], synthetic_public: PublicData
) -> tuple[Path, Path]:
    """(bundle folder, primary data file): the tiny recipe on every fourth seed row plus the public rows."""
    root = tmp_path_factory.mktemp("quality")
    data = write_rows(root / "seed-quarter.jsonl", seed_rows[::4])
    bundle, _ = train_bundle(
        data=[data],
        recipe=TINY_RECIPE,
        models_dir=root / "models",
        name="tiny",
        version="1",
        public_data=synthetic_public.root,
        report=_quiet,
    )
    return bundle, data


@pytest.fixture(scope="module")
def model(trained: tuple[Path, Path]) -> TriageModel:
    return load_bundle(trained[0])


@pytest.fixture(scope="module")
def quality_run(
    trained: tuple[Path, Path], model: TriageModel, synthetic_public: PublicData
) -> tuple[QualityRun, list[str], Recorder]:
    peers: list[Scorer] = [TfidfPeer()]
    with contextlib.suppress(PeerUnavailable):  # without vaderSentiment the VADER test skips
        peers.append(VaderPeer())
    recorder = Recorder()
    messages: list[str] = []
    run = run_quality(
        model=model,
        public=synthetic_public,
        data=[trained[1]],
        peers=[*peers, recorder],
        ours=OurModel(model),
        report=messages.append,
        cost_sample=50,
    )
    return run, messages, recorder


def test_run_scores_every_set_with_every_scorer(quality_run: tuple[QualityRun, list[str], Recorder]) -> None:
    run, _, _ = quality_run
    assert {s.name for s in run.sets} == SET_NAMES
    assert {"ticket-triage", "tfidf", "recorder"} <= set(run.scores)
    for scorer, by_set in run.scores.items():
        assert set(by_set) == SET_NAMES, scorer
        for s in run.sets:
            assert by_set[s.name].shape == (len(s.rows), len(HEADS))
    records = tabulate(run)
    assert {r["set"] for r in records} == SET_NAMES
    assert not [r for r in records if r["scorer"] == "recorder"]  # no scores, no rows


def test_peers_fit_on_the_models_training_rows(
    quality_run: tuple[QualityRun, list[str], Recorder],
    model: TriageModel,
    synthetic_public: PublicData,
    trained: tuple[Path, Path],
    seed_rows: list[LabelledTicket],
) -> None:
    _, messages, recorder = quality_run
    rows, weights, groups = training_rows(model, synthetic_public, [trained[1]])
    held_out = len(model.metadata["held_out_text_sha256_16"])
    assert len(rows) == len(seed_rows[::4]) - held_out + len(synthetic_public.training_rows())
    assert len(rows) == model.metadata["rows"]["primary_train"] + sum(
        model.metadata["rows"]["auxiliary_by_source"].values()
    )
    for name in ("ticket-triage", "tfidf", "recorder"):
        assert f"{name}: fitting on {len(rows)} training rows" in messages
    assert recorder.texts == [r.model_text for r in rows]
    np.testing.assert_array_equal(recorder.labels, two_sided(label_matrix(rows), groups))
    np.testing.assert_array_equal(recorder.weights, weights)
    primary = model.metadata["rows"]["primary_train"]
    assert groups == [PRIMARY] * primary + [r.source for r in rows[primary:]]
    assert (recorder.weights[:primary] == 1).all()
    assert (recorder.weights[primary:] < 1).all()


def test_costs_are_measured_for_every_scorer(quality_run: tuple[QualityRun, list[str], Recorder]) -> None:
    run, _, _ = quality_run
    assert set(run.costs) == set(run.scores)
    for scorer, cost in run.costs.items():
        if scorer == "recorder":
            continue  # scores nothing, in no measurable time
        assert cost["single_us"] > 0, scorer
        assert cost["batch_us"] > 0, scorer


def test_tiny_model_beats_chance_on_the_airline_tweets(
    quality_run: tuple[QualityRun, list[str], Recorder],
) -> None:
    run, _, _ = quality_run
    records = {(r["set"], r["score"], r["scorer"]): r for r in tabulate(run)}
    for score in ("emotional", "needs_human"):
        assert records[("airline tweets", score, "ticket-triage")]["roc_auc"] > 0.75
    assert records[("airline tweets", "emotional", "tfidf")]["roc_auc"] > 0.75
    assert records[("CFPB split", "complex", "ticket-triage")]["roc_auc"] > 0.75


def test_vader_scores_emotional_only(quality_run: tuple[QualityRun, list[str], Recorder]) -> None:
    run, _, _ = quality_run
    if "vader" not in run.scores:
        pytest.skip("vaderSentiment is not installed (pip install -e '.[peers]')")
    vader = [r for r in tabulate(run) if r["scorer"] == "vader"]
    assert {r["score"] for r in vader} == {"emotional"}
    assert {r["set"] for r in vader} == {"seed held-out", "airline tweets", "XED nl split", "GoEmotions test"}
    assert not [r for r in vader if "brier" in r or "ece" in r]
    assert run.probabilistic["vader"] is False


# --- the command --------------------------------------------------------------------------------


def test_quality_without_public_data_is_skipped(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["quality", "--public-data", str(tmp_path / "absent"), "--out", str(tmp_path / "r")]
    )
    assert result.exit_code == 0, result.output
    assert "skipped" in result.output
    assert not (tmp_path / "r").exists()


def test_quality_writes_a_report(
    tmp_path: Path, trained: tuple[Path, Path], synthetic_public: PublicData
) -> None:
    bundle, data = trained
    out = tmp_path / "report"
    args = [
        "quality",
        "--model",
        str(bundle),
        "--data",
        str(data),
        "--public-data",
        str(synthetic_public.root),
    ]
    result = runner.invoke(app, [*args, "--peers", "tfidf", "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = (out / "summary.md").read_text()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["model"] == "tiny/1"
    assert {r["set"] for r in metrics["records"]} == SET_NAMES
    assert {r["scorer"] for r in metrics["records"]} == {"ticket-triage", "tfidf"}
    assert set(metrics["costs"]) == {"ticket-triage", "tfidf"}
    assert metrics["cfpb"]["issues"]
    for name in SET_NAMES:
        assert f"| {name} | " in summary
    assert summary.startswith("# Quality: tiny 1")
    assert f"Report written to {out}" in result.output


def test_quality_refuses_an_unknown_peer(
    tmp_path: Path, trained: tuple[Path, Path], synthetic_public: PublicData
) -> None:
    bundle, _ = trained
    args = [
        "quality",
        "--model",
        str(bundle),
        "--public-data",
        str(synthetic_public.root),
        "--out",
        str(tmp_path),
    ]
    result = runner.invoke(app, [*args, "--peers", "tfidf,bogus"])
    assert result.exit_code == 2
    assert "unknown peer(s) bogus" in result.output
    assert not (tmp_path / "summary.md").exists()


def test_peers_never_see_labels_a_source_gives_one_class_only() -> None:
    nan = np.nan
    labels = np.array(
        [
            [1, 0, 0, 1],  # primary rows keep every label, one-sided or not
            [1, 0, 1, 1],
            [1, nan, nan, 1],  # "pub": emotional both ways, needs_human 1 only
            [0, nan, nan, nan],
            [nan, 1, nan, 1],  # "other": complex 1 only, needs_human 1 only
        ]
    )
    out = two_sided(labels, [PRIMARY, PRIMARY, "pub", "pub", "other"])
    np.testing.assert_array_equal(out[:2], labels[:2])
    np.testing.assert_array_equal(out[2:4, 0], [1, 0])
    assert np.isnan(out[2:, 3]).all()
    assert np.isnan(out[4]).all()
    assert not np.shares_memory(out, labels)


def test_a_changed_public_file_is_named_before_the_peers_train_on_it(
    quality_run: tuple[QualityRun, list[str], Recorder],
    model: TriageModel,
    synthetic_public: PublicData,
    tmp_path: Path,
) -> None:
    _, messages, _ = quality_run
    assert not [m for m in messages if "is not the file the model was trained on" in m]
    assert changed_public_files(model, synthetic_public) == []
    copy = tmp_path / "data"
    shutil.copytree(synthetic_public.root, copy)
    changed = copy / "xed" / "nl-projections.tsv"
    changed.write_text(changed.read_text(encoding="utf-8") + "nog een zin\t4\n", encoding="utf-8")
    (copy / "cfpb-complaints" / "complaints_sample.csv").unlink()
    assert changed_public_files(model, PublicData(copy)) == ["nl-projections.tsv", "complaints_sample.csv"]
