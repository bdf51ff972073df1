"""The README's client examples, run as written against the service under uvicorn (open mode)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.client.conftest import LiveService
from triage_client import TriageClient

README = Path(__file__).resolve().parents[2] / "README.md"
EXAMPLE_URL = "http://127.0.0.1:8000"


def client_examples() -> list[str]:
    section = README.read_text().split("\n## Python client\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


def test_the_readme_examples_run(live_open: LiveService, capsys: pytest.CaptureFixture[str]) -> None:
    sync_example, async_example = client_examples()
    for example in (sync_example, async_example):
        assert EXAMPLE_URL in example
        exec(compile(example.replace(EXAMPLE_URL, live_open.url), str(README), "exec"), {})

    # The service's JSON log lines share stdout with what the examples print.
    printed = [line for line in capsys.readouterr().out.splitlines() if not line.startswith("{")]
    assert printed[0] == "urgent ['bereavement', 'repeat_contact']"  # the policy's rules, whatever the model
    assert printed[1] == "1 ['human']"
    with TriageClient(live_open.url) as triage:
        (item,) = triage.iter_queue(status="resolved")
        assert (item.ticket_id, item.outcome, item.claimed_by) == ("ZD-81723", "resolved", "ann")
        assert list(triage.iter_queue()) == []
