"""The benchmarks behind the README's Performance table run from the checkout, in a short mode.

Each script runs as the README says, in a fresh process, with small sizes (the figures in the
README come from full runs; a timed unit test would only measure the CI machine). What is checked
is that each one still runs and prints its figures beside its reference's, and for model_cost
the quality claim that stands beside its speed: on the same held-out split, ours is at least as
good as the reference pipeline. The HTTP benchmarks need wrk; where it is not installed they are
skipped with that reason.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NUMBER = r"([\d,]+(?:\.\d+)?)"


def _run(script: str, *args: str, env: dict[str, str] | None = None, timeout: int = 600) -> str:
    run = subprocess.run(
        [sys.executable, str(REPO / "bench" / script), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, **(env or {})},
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return run.stdout


def _figure(pattern: str, out: str) -> float:
    match = re.search(pattern, out, re.M)
    assert match is not None, f"{pattern!r} not in:\n{out}"
    return float(match.group(1).replace(",", ""))


def test_model_cost_prints_both_languages_and_ours_is_as_good_on_held_out_tickets() -> None:
    out = _run("model_cost.py", "--quick", "--words", "20", "--batches", "1", "32")
    ours = _figure(rf"ROC-AUC \(n=\d+\): ours {NUMBER}", out)
    reference = _figure(rf"ROC-AUC \(n=\d+\): ours [\d.]+, reference {NUMBER}", out)
    assert 0.5 < reference <= ours <= 1.0
    for lang in ("en", "nl"):
        for batch in (1, 32):
            row = _figure(rf"^{lang}\s+20\s+{batch}\s+{NUMBER}\s+[\d.]+\s+[\d.]+x\s+[\d.]+x$", out)
            assert row > 0


def test_score_file_scores_every_ticket_and_prints_the_rates() -> None:
    # The script itself checks that the output holds one line per ticket.
    out = _run("score_file.py", "--tickets", "1500", "--repeats", "1")
    assert _figure(rf"ours\s+[\d.]+ s\s+{NUMBER} tickets/s on one core", out) > 0
    assert _figure(rf"reference\s+[\d.]+ s\s+{NUMBER} tickets/s", out) > 0
    assert _figure(rf"ratio\s+{NUMBER}x", out) > 0


def test_train_time_trains_and_prints_the_ratio() -> None:
    out = _run("train_time.py", "--rows", "1500", "--repeats", "1")
    assert _figure(rf"ours\s+{NUMBER} s", out) > 0
    assert _figure(rf"reference\s+{NUMBER} s", out) > 0
    assert _figure(rf"ratio\s+{NUMBER}x", out) > 0


def test_memory_reads_both_workers(tmp_path: Path) -> None:
    # Its own database, so the run leaves no ./data behind in the checkout.
    env = {"TRIAGE_DATABASE_URL": f"sqlite:///{tmp_path / 'triage.db'}"}
    out = _run("memory.py", "--repeats", "1", env=env)
    score = _figure(rf"scoring service\s+{NUMBER} MB", out)
    echo = _figure(rf"echo app\s+{NUMBER} MB", out)
    assert 0 < echo < score


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (Debian: apt-get install wrk)")
def test_http_load_prints_score_against_echo_for_one_and_two_workers() -> None:
    out = _run("http_load.py", "--seconds", "1", "--repeats", "1")
    for workers in (1, 2):
        assert _figure(rf"^\s+{workers} score/echo requests/s: {NUMBER}%", out) > 0
