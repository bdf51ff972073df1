"""``triage deliveries list|retry`` and ``triage inbox list|retry``: dead letters and failed webhooks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from service.config import get_settings
from service.integrations import repository
from service.storage.database import make_engine, session_factory, upgrade
from tests.service.integrations.conftest import FakeHelpdesk, fake_helpdesk
from tests.service.integrations.conftest import integrations as configured
from training.cli import app

runner = CliRunner()
DECISION = {
    "route": "human",
    "priority": "high",
    "needs_human": 0.9,
    "rules": [],
    "model_version": "1",
    "policy_version": "p",
}


@pytest.fixture
def helpdesk(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHelpdesk]:
    with fake_helpdesk() as fake:
        config = {
            name: {**i.model_dump(mode="json", exclude_none=True), "secret": i.secret.get_secret_value()}
            | ({"token": i.token.get_secret_value()} if i.token else {})
            for name, i in configured(url=fake.url).items()
        }
        monkeypatch.setenv("TRIAGE_INTEGRATIONS", json.dumps(config))
        monkeypatch.setenv("TRIAGE_DELIVERY_BACKOFF_SECONDS", "0.05")
        monkeypatch.setenv("TRIAGE_DELIVERY_MAX_ATTEMPTS", "3")
        get_settings.cache_clear()
        yield fake
        get_settings.cache_clear()


def dead_letters(data_dir: Path, count: int) -> list[int]:
    url = f"sqlite:///{data_dir / 'triage.db'}"
    data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(url)
    upgrade(engine, url)
    now = datetime.now(UTC)
    with session_factory(engine)() as session:
        for i in range(count):
            source = ("zendesk", "acme")[i % 2]
            repository.upsert_delivery(
                session, integration=source, external_id=f"t{i}", decision=DECISION, now=now
            )
        session.flush()
        ids = [d.id for d in repository.list_deliveries(session)]
        for d in repository.list_deliveries(session):
            repository.settle_delivery(
                session,
                delivery_id=d.id,
                revision=d.revision,
                values={"status": "dead", "attempts": 8, "last_status": 503, "dead_at": now},
            )
        session.commit()
    engine.dispose()
    return ids


def test_retry_drains_the_dead_letters(data_dir: Path, helpdesk: FakeHelpdesk) -> None:
    dead_letters(data_dir, 4)
    listed = runner.invoke(app, ["deliveries", "list", "--status", "dead"])
    assert listed.exit_code == 0 and listed.output.count("\tdead\t") == 4 and "last 503" in listed.output
    # The helpdesk is still struggling: a 429 and a 500 before it takes them.
    helpdesk.answer(429, {"Retry-After": "0"})
    helpdesk.answer(500)
    result = runner.invoke(app, ["deliveries", "retry", "--wait", "20"])
    assert result.exit_code == 0, result.output
    assert "re-sent 4 dead letter(s): 4 delivered, 0 dead again, 0 still retrying" in result.output
    assert len(helpdesk.requests) == 6
    assert runner.invoke(app, ["deliveries", "list", "--status", "dead"]).output.count("\tdead\t") == 0
    again = runner.invoke(app, ["deliveries", "retry"])
    assert again.exit_code == 0 and "no dead letters" in again.output


def test_retry_reports_letters_that_die_again(data_dir: Path, helpdesk: FakeHelpdesk) -> None:
    dead_letters(data_dir, 2)
    helpdesk.answer(403, times=1)  # the first (zendesk) is refused outright; acme's goes through
    result = runner.invoke(app, ["deliveries", "retry", "--integration", "zendesk"])
    assert result.exit_code == 1
    assert "re-sent 1 dead letter(s): 0 delivered, 1 dead again" in result.output
    assert runner.invoke(app, ["deliveries", "retry", "--integration", "nope"]).exit_code == 1


def test_inbox_retry_puts_failed_webhooks_back(data_dir: Path) -> None:
    url = f"sqlite:///{data_dir / 'triage.db'}"
    data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(url)
    upgrade(engine, url)
    now = datetime.now(UTC)
    with session_factory(engine)() as session:
        for i in range(2):
            repository.add_to_inbox(
                session,
                source="acme",
                delivery_id=f"m{i}",
                event="ticket.created",
                external_id=f"T{i}",
                ticket="{}",
                now=now,
            )
        session.flush()
        first = repository.inbox_rows(session)[-1]
        repository.retry_inbox(session, row_id=first.id, failed=True, next_at=now, error="ValidationError")
        session.commit()
    listed = runner.invoke(app, ["inbox", "list", "--status", "failed"])
    assert (
        listed.exit_code == 0
        and "\tT0\t" in listed.output
        and "ValidationError" in listed.output
        and "T1" not in listed.output
    )
    result = runner.invoke(app, ["inbox", "retry"])
    assert result.exit_code == 0 and "\n1 failed webhook(s) back in the inbox" in "\n" + result.output
    with session_factory(engine)() as session:
        assert sorted((r.external_id, r.status, r.attempts) for r in repository.inbox_rows(session)) == [
            ("T0", "pending", 0),
            ("T1", "pending", 0),
        ]
    engine.dispose()
