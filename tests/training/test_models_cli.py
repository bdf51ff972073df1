"""``triage models``: register, the promotion gate refusing a worse model, --force, rollback, retire."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from training.cli import app

runner = CliRunner()


def triage(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_the_gate_refuses_a_model_trained_on_shuffled_labels(
    data_dir: Path, tiny_models_dir: Path, candidates_dir: Path, unseen_file: Path
) -> None:
    assert triage("models", "list")[1].count("no model registered") == 1
    assert triage("models", "register", str(tiny_models_dir / "tiny" / "1"), "--actor", "olga")[0] == 0
    code, out = triage("models", "promote", "tiny/1", "--actor", "olga")
    assert code == 0 and "tiny/1 is the champion" in out  # no champion yet: nothing to compare

    assert triage("models", "register", str(candidates_dir / "tiny" / "3"))[0] == 0
    code, out = triage("models", "promote", "tiny/3", "--actor", "olga")
    assert code == 2 and "give --data" in out  # too few rows held out by both to judge on
    code, out = triage("models", "promote", "tiny/3", "--data", str(unseen_file), "--actor", "olga")
    assert code == 3, out
    assert "candidate" in out and "champion" in out and "ROC-AUC" in out
    assert "refused: needs_human ROC-AUC" in out and "not promoted" in out
    listed = triage("models", "list")[1]
    assert "tiny/1" in listed and "champion" in listed and "tiny/3" in listed and "candidate" in listed

    code, out = triage(
        "models", "promote", "tiny/3", "--data", str(unseen_file), "--force", "--actor", "olga"
    )
    assert code == 0 and "--force" in out
    shown = triage("models", "show", "tiny/3")[1]
    assert "promote (forced) by olga" in shown and '"problems": ["needs_human ROC-AUC' in shown

    code, out = triage("models", "rollback", "tiny", "--actor", "olga")
    assert code == 0 and "tiny/1 is the champion again" in out
    assert triage("models", "retire", "tiny/1")[0] == 1  # the champion cannot be retired
    assert triage("models", "retire", "tiny/3")[0] == 0


def test_an_equal_model_passes_the_gate(data_dir: Path, tiny_models_dir: Path, candidates_dir: Path) -> None:
    triage("models", "register", str(tiny_models_dir / "tiny" / "1"))
    triage("models", "promote", "tiny/1")
    triage("models", "register", str(candidates_dir / "tiny" / "2"))
    code, out = triage("models", "promote", "tiny/2")
    assert code == 0 and "refused" not in out and "compared on" in out
    assert triage("models", "shadow", "tiny/2")[0] == 1  # the champion cannot shadow itself
    code, out = triage("models", "shadow", "tiny/1")
    assert code == 0 and "tiny/1 is the shadow: workers start scoring with it within seconds" in out
    code, out = triage("models", "compare", "tiny/1", "tiny/2")
    assert code == 1 and "no ticket was scored by both" in out
    assert triage("models", "promote", "tiny/9")[0] == 1
    assert triage("models", "promote", "tiny")[0] == 2
    assert triage("models", "register", str(candidates_dir / "nowhere"))[0] == 1


def test_an_unknown_version_is_a_one_line_error_with_status_1(data_dir: Path) -> None:
    for args in (
        ("show", "tiny/99"),
        ("promote", "tiny/99", "--actor", "olga"),
        ("shadow", "tiny/99", "--actor", "olga"),
        ("retire", "tiny/99", "--actor", "olga"),
        ("rollback", "tiny", "--actor", "olga"),
    ):
        code, out = triage("models", *args)
        # The output may begin with the migration's log lines on a fresh database.
        errors = [line for line in out.splitlines() if line.startswith("error: ")]
        assert code == 1 and len(errors) == 1 and "Traceback" not in out, (args, out)
