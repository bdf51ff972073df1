"""The inbox processor on its own, on SQLite and PostgreSQL: leases, retries, failures, batches,
and the deliveries queued in the same transaction as the tickets."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from service.config import Settings
from service.integrations import inbox as inbox_module
from service.integrations import repository
from service.integrations.inbox import LEASE_SECONDS, InboxProcessor
from service.integrations.providers import parse
from service.model.bundle import TriageModel
from service.scoring.engine import Scorer
from service.scoring.policy import load_policy
from service.storage.tables import Delivery, QueueItem, TicketRecord, WebhookInbox
from tests.service.integrations.conftest import integrations, payload

REPO = Path(__file__).resolve().parents[3]
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


class Quiet:
    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


@pytest.fixture(scope="module")
def scorer(tiny_model: TriageModel) -> Scorer:
    return Scorer.build(model=tiny_model, policy=load_policy(REPO / "policy.toml"))


def processor(sessions: sessionmaker[Session], scorer: Scorer, **settings: Any) -> InboxProcessor:
    config = Settings(**{"inbox_max_attempts": 3, "inbox_retry_seconds": 10, **settings})
    config = config.model_copy(update={"integrations": integrations(url="http://127.0.0.1:9")})
    return InboxProcessor(sessions=sessions, settings=config, scorer=lambda: scorer, log=Quiet())


def receive(
    sessions: sessionmaker[Session], source: str, name: str, delivery_id: str, ticket: str | None = None
) -> None:
    provider = "generic" if source == "acme" else source
    event = parse(provider=provider, source=source, body=payload(name))
    assert event is not None
    with sessions() as session:
        repository.add_to_inbox(
            session,
            source=source,
            delivery_id=delivery_id,
            event=event.event,
            external_id=event.external_id,
            ticket=ticket if ticket is not None else event.ticket.model_dump_json(exclude_none=True),
            now=NOW,
        )
        session.commit()


def rows(sessions: sessionmaker[Session], table: Any) -> list[Any]:
    with sessions() as session:
        return list(session.scalars(select(table).order_by(table.id)))


def test_two_updates_in_one_batch_one_record_the_later_wins(
    db_sessions: sessionmaker[Session], scorer: Scorer
) -> None:
    receive(db_sessions, "zendesk", "zendesk_ticket_created", "a")
    receive(db_sessions, "zendesk", "zendesk_comment_added", "b")
    receive(db_sessions, "zammad", "zammad_ticket_created", "c")
    assert processor(db_sessions, scorer).run_once(NOW) == 3
    tickets = {t.source: t for t in rows(db_sessions, TicketRecord)}
    assert {(t.source, t.external_id, t.times_scored) for t in tickets.values()} == {
        ("zendesk", "81723", 2),
        ("zammad", "512", 1),
    }
    zendesk_ticket = tickets["zendesk"]
    assert zendesk_ticket.text is not None and zendesk_ticket.text.endswith("ombudsman.")
    assert len([q for q in rows(db_sessions, QueueItem) if q.ticket_id == zendesk_ticket.id]) == 1
    # One delivery per ticket, holding its latest decision (the second upsert made revision 2).
    deliveries = {(d.integration, d.external_id): d for d in rows(db_sessions, Delivery)}
    assert set(deliveries) == {("zendesk", "81723"), ("zammad", "512")}
    zendesk = deliveries[("zendesk", "81723")]
    assert zendesk.revision == 2 and zendesk.status == "pending" and zendesk.decision["route"] == "human"
    assert set(zendesk.decision) == {
        "route",
        "priority",
        "needs_human",
        "rules",
        "model_version",
        "policy_version",
    }
    assert all(r.status == "done" and r.ticket is None for r in rows(db_sessions, WebhookInbox))


def test_no_delivery_without_a_write_back_url(db_sessions: sessionmaker[Session], scorer: Scorer) -> None:
    receive(db_sessions, "acme", "generic_ticket_created", "m1")
    worker = processor(db_sessions, scorer)
    worker.settings = worker.settings.model_copy(update={"integrations": integrations()})
    assert worker.run_once(NOW) == 1
    assert rows(db_sessions, Delivery) == [] and len(rows(db_sessions, TicketRecord)) == 1


def test_a_failing_row_is_retried_with_backoff_then_failed_and_kept(
    db_sessions: sessionmaker[Session], scorer: Scorer
) -> None:
    receive(db_sessions, "acme", "generic_ticket_created", "bad", ticket='{"text": ""}')
    receive(db_sessions, "acme", "generic_ticket_created", "good")
    worker = processor(db_sessions, scorer)
    assert worker.run_once(NOW) == 2
    bad, good = rows(db_sessions, WebhookInbox)
    assert good.status == "done" and (bad.status, bad.attempts, bad.last_error) == (
        "pending",
        1,
        "ValidationError",
    )
    assert worker.run_once(NOW + timedelta(seconds=9)) == 0  # backoff: 10 s after the first failure
    assert worker.run_once(NOW + timedelta(seconds=10)) == 1
    assert worker.run_once(NOW + timedelta(seconds=29)) == 0  # then 20 s
    assert worker.run_once(NOW + timedelta(seconds=30)) == 1
    (bad, _) = rows(db_sessions, WebhookInbox)
    assert (bad.status, bad.attempts) == ("failed", 3) and bad.ticket is not None  # visible, not lost
    assert worker.run_once(NOW + timedelta(days=1)) == 0


def test_a_crash_after_the_claim_loses_nothing(
    db_sessions: sessionmaker[Session], scorer: Scorer, monkeypatch: pytest.MonkeyPatch
) -> None:
    receive(db_sessions, "zammad", "zammad_ticket_created", "z1")
    # A worker claims the row and dies before storing anything: the lease runs out, another takes it.
    with db_sessions() as session:
        assert (
            len(
                repository.claim_inbox(
                    session, now=NOW, until=NOW + timedelta(seconds=LEASE_SECONDS), limit=10, max_attempts=3
                )
            )
            == 1
        )
        session.commit()
    worker = processor(db_sessions, scorer)
    assert worker.run_once(NOW + timedelta(seconds=LEASE_SECONDS - 1)) == 0
    # The store fails mid-transaction: nothing of it is committed, the row is retried.
    with monkeypatch.context() as patch:
        patch.setattr(
            repository, "store_scored", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("disk full"))
        )
        assert worker.run_once(NOW + timedelta(seconds=LEASE_SECONDS + 1)) == 1
    (row,) = rows(db_sessions, WebhookInbox)
    assert (row.status, row.attempts, row.last_error) == ("pending", 2, "RuntimeError")
    assert rows(db_sessions, TicketRecord) == [] and rows(db_sessions, Delivery) == []
    assert worker.run_once(NOW + timedelta(hours=1)) == 1
    (row,) = rows(db_sessions, WebhookInbox)
    assert (
        row.status == "done"
        and len(rows(db_sessions, TicketRecord)) == 1
        and len(rows(db_sessions, Delivery)) == 1
    )


def test_no_scorer_no_claim(db_sessions: sessionmaker[Session], scorer: Scorer) -> None:
    receive(db_sessions, "zammad", "zammad_ticket_created", "z1")
    worker = processor(db_sessions, scorer)
    worker.scorer = lambda: None
    assert worker.run_once(NOW) == 0
    assert [r.status for r in rows(db_sessions, WebhookInbox)] == ["pending"]


def test_old_rows_are_purged(db_sessions: sessionmaker[Session], scorer: Scorer) -> None:
    receive(db_sessions, "zammad", "zammad_ticket_created", "z1")
    worker = processor(db_sessions, scorer, text_retention_days=1)
    assert worker.run_once(NOW) == 1
    fresh = processor(db_sessions, scorer, text_retention_days=1)
    fresh.run_once(NOW + timedelta(days=2))
    assert rows(db_sessions, WebhookInbox) == []


def test_workers_claiming_together_process_each_row_once(
    db_sessions: sessionmaker[Session], scorer: Scorer
) -> None:
    with db_sessions() as session:
        for i in range(240):
            ticket = {"id": f"T-{i}", "source": "acme", "text": f"Where is my order {i}? It has not arrived."}
            repository.add_to_inbox(
                session,
                source="acme",
                delivery_id=f"m{i}",
                event="ticket.created",
                external_id=f"T-{i}",
                ticket=json.dumps(ticket),
                now=NOW,
            )
        session.commit()
    workers = [processor(db_sessions, scorer) for _ in range(3)]
    claimed: list[int] = []

    def drain(worker: InboxProcessor) -> None:
        while (n := worker.run_once(NOW)) > 0:
            claimed.append(n)

    threads = [threading.Thread(target=drain, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(claimed) == 240  # no row claimed twice
    tickets = rows(db_sessions, TicketRecord)
    assert len(tickets) == 240 and all(t.times_scored == 1 for t in tickets)
    assert all(r.status == "done" and r.attempts == 1 for r in rows(db_sessions, WebhookInbox))
    assert len(rows(db_sessions, Delivery)) == 240


def test_a_pass_that_outlasts_its_lease_leaves_the_rows_to_the_worker_that_took_them(
    db_sessions: sessionmaker[Session], scorer: Scorer, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow, other = processor(db_sessions, scorer), processor(db_sessions, scorer)
    real = inbox_module.score_and_record
    state: dict[str, Any] = {"armed": True, "fail": False}

    def lease_runs_out_meanwhile(**kwargs: Any) -> Any:
        if state["armed"]:  # the slow worker's scoring outlasts its lease; another takes the row
            state["armed"] = False
            state["taken"] = other.run_once(NOW + timedelta(seconds=LEASE_SECONDS + 1))
            if state["fail"]:
                raise RuntimeError("scoring broke")
        return real(**kwargs)

    monkeypatch.setattr(inbox_module, "score_and_record", lease_runs_out_meanwhile)
    receive(db_sessions, "zammad", "zammad_ticket_created", "z1")
    assert slow.run_once(NOW) == 1 and state["taken"] == 1
    (row,) = rows(db_sessions, WebhookInbox)
    assert (row.status, row.attempts, row.last_error) == ("done", 2, None)
    (ticket,) = rows(db_sessions, TicketRecord)
    assert ticket.times_scored == 1  # stored once, by the worker holding the lease
    assert [d.revision for d in rows(db_sessions, Delivery)] == [1]
    # A failure recorded after the lease ran out does not put the other worker's done row back.
    state.update(armed=True, fail=True)
    receive(db_sessions, "zammad", "zammad_ticket_created", "z2")
    assert slow.run_once(NOW) == 1 and state["taken"] == 1
    row = rows(db_sessions, WebhookInbox)[-1]
    assert (row.status, row.attempts, row.last_error) == ("done", 2, None)
