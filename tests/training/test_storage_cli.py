"""``triage db``, ``triage purge`` and ``triage export-feedback`` on a fresh SQLite database."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from training.cli import app

runner = CliRunner()


def test_db_upgrade_then_check(data_dir: Path) -> None:
    up = runner.invoke(app, ["db", "upgrade"])
    assert up.exit_code == 0 and (data_dir / "triage.db").is_file()
    check = runner.invoke(app, ["db", "check"])
    assert check.exit_code == 0 and "no drift" in check.output


def test_purge_and_export_on_an_empty_database(data_dir: Path, tmp_path: Path) -> None:
    purged = runner.invoke(app, ["purge", "--days", "1"])
    assert purged.exit_code == 0 and "cleared the text of 0 ticket(s)" in purged.output
    assert runner.invoke(app, ["purge", "--days", "0"]).exit_code == 1
    out = tmp_path / "feedback.csv"
    exported = runner.invoke(app, ["export-feedback", str(out)])
    assert exported.exit_code == 0 and out.read_text(encoding="utf-8").startswith("id,source,text")
    again = runner.invoke(app, ["export-feedback", str(out)])
    assert again.exit_code == 1 and "exists already" in again.output
