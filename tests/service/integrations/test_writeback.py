"""The write-back against a fake helpdesk on loopback, on SQLite and PostgreSQL: 429 with
Retry-After, 500s, timeouts, duplicates and conflicts, permanent refusals, the circuit breaker,
and dead letters. Time is passed in, so backoffs are checked without waiting for them."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from service.config import Settings
from service.integrations import repository
from service.integrations import writeback as writeback_module
from service.integrations.writeback import CircuitBreaker, DeliverySender, retry_after_seconds
from service.storage.database import aware
from service.storage.tables import Delivery
from tests.service.integrations.conftest import FakeHelpdesk, integrations

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
DECISION = {
    "route": "human",
    "priority": "urgent",
    "needs_human": 0.97,
    "rules": ["bereavement"],
    "model_version": "1",
    "policy_version": "p",
}


class Quiet:
    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


@pytest.fixture
def sender(db_sessions: sessionmaker[Session], helpdesk: FakeHelpdesk) -> Iterator[DeliverySender]:
    settings = Settings(
        delivery_backoff_seconds=1.0,
        delivery_backoff_max_seconds=60.0,
        delivery_max_attempts=4,
        delivery_timeout_seconds=0.3,
        breaker_failures=3,
        breaker_cooldown_seconds=30.0,
    ).model_copy(update={"integrations": integrations(url=helpdesk.url)})
    # jitter 1.0: the backoff's random half at its top, so the waits are exact.
    made = DeliverySender(sessions=db_sessions, settings=settings, log=Quiet(), jitter=lambda: 1.0)
    yield made
    made.close()


def enqueue(
    sessions: sessionmaker[Session], integration: str, external_id: str, decision: dict[str, Any] = DECISION
) -> None:
    with sessions() as session:
        repository.upsert_delivery(
            session, integration=integration, external_id=external_id, decision=decision, now=NOW
        )
        session.commit()


def deliveries(sessions: sessionmaker[Session]) -> list[Delivery]:
    with sessions() as session:
        return list(session.scalars(select(Delivery).order_by(Delivery.id)))


def test_delivered_with_each_providers_request(
    db_sessions: sessionmaker[Session], sender: DeliverySender, helpdesk: FakeHelpdesk
) -> None:
    for name, ticket_id in (
        ("zendesk", "81723"),
        ("freshdesk", "4417"),
        ("zammad", "512"),
        ("acme", "81723"),
    ):
        enqueue(db_sessions, name, ticket_id)
    report = sender.run_once(NOW)
    assert report.delivered == 4
    by_path = {(r["method"], r["path"]): r for r in helpdesk.requests}
    zendesk = by_path[("PUT", "/api/v2/tickets/81723")]
    assert zendesk["json"]["ticket"]["priority"] == "urgent" and zendesk["json"]["ticket"]["group_id"] == 42
    assert (
        zendesk["headers"]["Authorization"]
        == "Basic " + base64.b64encode(b"agent@example.com/token:zd-token").decode()
    )
    assert by_path[("PUT", "/api/v1/tickets/512")]["headers"]["Authorization"] == "Token token=zm-token"
    assert by_path[("PUT", "/api/v1/tickets/512")]["json"] == {"priority_id": 3, "group_id": 3}
    assert by_path[("PUT", "/api/v2/tickets/4417")]["json"] == {"priority": 4}
    assert by_path[("POST", "/hooks/triage")]["json"]["ticket_id"] == "81723"
    assert by_path[("POST", "/hooks/triage")]["headers"]["Authorization"] == "Bearer acme-token"
    assert all(r["headers"]["Idempotency-Key"].startswith("triage-") for r in helpdesk.requests)
    assert all(
        (d.status, d.attempts, d.last_status) == ("delivered", 1, 200) for d in deliveries(db_sessions)
    )
    assert sender.run_once(NOW + timedelta(hours=1)).claimed == 0  # nothing is sent twice


def test_429_retry_after_is_honoured(
    db_sessions: sessionmaker[Session], sender: DeliverySender, helpdesk: FakeHelpdesk
) -> None:
    enqueue(db_sessions, "zendesk", "1")
    before = (
        REGISTRY.get_sample_value(
            "triage_deliveries_total", {"integration": "zendesk", "outcome": "retrying"}
        )
        or 0
    )
    helpdesk.answer(429, {"Retry-After": "20"})
    assert sender.run_once(NOW).retrying == 1
    (d,) = deliveries(db_sessions)
    assert (d.status, d.attempts, d.last_status, aware(d.next_attempt_at)) == (
        "retrying",
        1,
        429,
        NOW + timedelta(seconds=20),
    )
    assert sender.run_once(NOW + timedelta(seconds=19)).claimed == 0
    # An HTTP date works too; the longer of it and the backoff wins.
    helpdesk.answer(429, {"Retry-After": format_datetime(NOW + timedelta(seconds=45), usegmt=True)})
    assert sender.run_once(NOW + timedelta(seconds=20)).retrying == 1
    (d,) = deliveries(db_sessions)
    assert aware(d.next_attempt_at) == NOW + timedelta(seconds=45)
    assert sender.run_once(NOW + timedelta(seconds=45)).delivered == 1
    assert len(helpdesk.requests) == 3
    after = REGISTRY.get_sample_value(
        "triage_deliveries_total", {"integration": "zendesk", "outcome": "retrying"}
    )
    assert after == before + 2


def test_500s_back_off_exponentially_then_deliver(
    db_sessions: sessionmaker[Session], sender: DeliverySender, helpdesk: FakeHelpdesk
) -> None:
    enqueue(db_sessions, "freshdesk", "7")
    helpdesk.answer(500, times=2)
    at = NOW
    waits = []
    for _ in range(2):
        assert sender.run_once(at).retrying == 1
        (d,) = deliveries(db_sessions)
        waits.append((aware(d.next_attempt_at) - at).total_seconds())  # type: ignore[operator]
        at = aware(d.next_attempt_at)  # type: ignore[assignment]
    assert waits == [1.0, 2.0]
    assert sender.run_once(at).delivered == 1
    (d,) = deliveries(db_sessions)
    assert (d.status, d.attempts, d.last_error) == ("delivered", 3, None)


def test_a_timeout_is_retried(
    db_sessions: sessionmaker[Session], sender: DeliverySender, helpdesk: FakeHelpdesk
) -> None:
    enqueue(db_sessions, "zammad", "5")
    helpdesk.answer(200, stall=1.0)
    assert sender.run_once(NOW).retrying == 1
    (d,) = deliveries(db_sessions)
    assert (d.status, d.last_status, d.last_error) == ("retrying", None, "timeout")
    assert sender.run_once(NOW + timedelta(seconds=1)).delivered == 1


def test_duplicates_and_conflicts(
    db_sessions: sessionmaker[Session], sender: DeliverySender, helpdesk: FakeHelpdesk
) -> None:
    # A generic receiver that has this delivery already (our settle was lost, say) answers 409: delivered.
    helpdesk.conflict_on_duplicate = True
    enqueue(db_sessions, "acme", "G-1")
    (d,) = deliveries(db_sessions)
    helpdesk.seen_keys.add(f"triage-acme-{d.id}-{d.revision}")
    assert sender.run_once(NOW).delivered == 1
    assert deliveries(db_sessions)[0].last_status == 409
    # Zendesk's 409 means the ticket changed meanwhile: the PUT of state is sent again.
    helpdesk.conflict_on_duplicate = False
    enqueue(db_sessions, "zendesk", "2")
    helpdesk.answer(409)
    assert sender.run_once(NOW).retrying == 1
    assert sender.run_once(NOW + timedelta(seconds=1)).delivered == 1
    zendesk_puts = [r for r in helpdesk.requests if r["path"] == "/api/v2/tickets/2"]
    assert len(zendesk_puts) == 2 and zendesk_puts[0]["json"] == zendesk_puts[1]["json"]


def test_a_newer_decision_replaces_the_one_in_flight(
    db_sessions: sessionmaker[Session], sender: DeliverySender, helpdesk: FakeHelpdesk
) -> None:
    enqueue(db_sessions, "zendesk", "3")
    with db_sessions() as session:
        (claimed,) = repository.claim_deliveries(session, now=NOW, until=NOW + timedelta(minutes=5), limit=10)
        session.commit()
    enqueue(db_sessions, "zendesk", "3", {**DECISION, "route": "automation", "priority": "low"})
    # While the old decision is in flight the newer one is not sent: it could land first.
    with db_sessions() as session:
        assert repository.claim_deliveries(session, now=NOW, until=NOW + timedelta(minutes=5), limit=10) == []
        session.commit()
    assert sender.run_once(NOW + timedelta(minutes=1)).claimed == 0
    with db_sessions() as session:
        # The old send finishing cannot mark the newer decision delivered, but lets it go.
        assert not repository.settle_delivery(
            session, delivery_id=claimed[0], revision=claimed[5], values={"status": "delivered"}
        )
        session.commit()
    assert sender.run_once(NOW + timedelta(minutes=1)).delivered == 1
    assert len(helpdesk.requests) == 1
    assert helpdesk.requests[-1]["json"]["ticket"]["priority"] == "low"


def test_a_send_that_outlasted_its_lease_neither_settles_nor_frees_the_next_claim(
    db_sessions: sessionmaker[Session],
) -> None:
    enqueue(db_sessions, "zendesk", "4")
    first_lease, second_lease = NOW + timedelta(minutes=5), NOW + timedelta(minutes=15)
    with db_sessions() as session:
        (old,) = repository.claim_deliveries(session, now=NOW, until=first_lease, limit=10)
        session.commit()
    with db_sessions() as session:  # the first lease ran out: another worker takes the row
        (again,) = repository.claim_deliveries(
            session, now=NOW + timedelta(minutes=6), until=second_lease, limit=10
        )
        session.commit()
    assert again[0] == old[0]
    with db_sessions() as session:  # the first send's late outcome changes nothing
        assert not repository.settle_delivery(
            session, delivery_id=old[0], revision=old[5], values={"status": "dead"}, claimed_until=first_lease
        )
        session.commit()
    with db_sessions() as session:
        (row,) = repository.list_deliveries(session)
        assert row.status == "pending"
        assert (
            repository.claim_deliveries(session, now=NOW + timedelta(minutes=7), until=second_lease, limit=10)
            == []
        )
        assert repository.settle_delivery(
            session,
            delivery_id=old[0],
            revision=old[5],
            values={"status": "delivered"},
            claimed_until=second_lease,
        )
        session.commit()


def test_a_superseded_send_in_a_pass_hands_over_to_the_newer_decision(
    db_sessions: sessionmaker[Session],
    sender: DeliverySender,
    helpdesk: FakeHelpdesk,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    enqueue(db_sessions, "zammad", "6")
    real = sender._send

    def newer_arrives_meanwhile(*args: Any) -> Any:
        enqueue(db_sessions, "zammad", "6", {**DECISION, "route": "automation", "priority": "low"})
        return real(*args)

    monkeypatch.setattr(sender, "_send", newer_arrives_meanwhile)
    assert sender.run_once(NOW).superseded == 1
    monkeypatch.setattr(sender, "_send", real)
    (d,) = deliveries(db_sessions)
    assert (d.revision, d.status, d.claimed_until) == (2, "pending", None)
    assert sender.run_once(NOW).delivered == 1
    assert [r["json"]["priority_id"] for r in helpdesk.requests] == [3, 1]


def test_a_refusal_is_dead_at_once(
    db_sessions: sessionmaker[Session], sender: DeliverySender, helpdesk: FakeHelpdesk
) -> None:
    enqueue(db_sessions, "zendesk", "4")
    helpdesk.answer(401)
    assert sender.run_once(NOW).dead == 1
    (d,) = deliveries(db_sessions)
    assert (d.status, d.attempts, d.last_status, d.last_error) == ("dead", 1, 401, "HTTP 401: not retried")


def test_max_attempts_make_a_dead_letter(
    db_sessions: sessionmaker[Session], sender: DeliverySender, helpdesk: FakeHelpdesk
) -> None:
    enqueue(db_sessions, "acme", "G-9")
    helpdesk.answer(503, times=4)
    at = NOW
    for _ in range(4):
        sender.run_once(at)
        at += timedelta(minutes=10)
    (d,) = deliveries(db_sessions)
    assert (d.status, d.attempts, d.last_status) == ("dead", 4, 503) and d.dead_at is not None
    assert sender.run_once(at + timedelta(days=1)).claimed == 0  # a dead letter waits for `deliveries retry`


def test_the_breaker_opens_and_half_opens(
    db_sessions: sessionmaker[Session], sender: DeliverySender, helpdesk: FakeHelpdesk
) -> None:
    for i in range(5):
        enqueue(db_sessions, "zendesk", f"b{i}")
    enqueue(db_sessions, "zammad", "other")
    helpdesk.answer(500, times=3)
    report = sender.run_once(NOW)
    # Three failures in a row open Zendesk's breaker: the other two wait, unattempted; Zammad is unaffected.
    assert (report.retrying, report.waiting, report.delivered) == (3, 2, 1)
    assert sender.breakers["zendesk"].state == "open" and sender.breakers["zammad"].state == "closed"
    assert REGISTRY.get_sample_value("triage_breaker_open", {"integration": "zendesk"}) == 1
    waiting = [d for d in deliveries(db_sessions) if d.attempts == 0 and d.integration == "zendesk"]
    assert len(waiting) == 2 and all(aware(d.next_attempt_at) == NOW + timedelta(seconds=30) for d in waiting)
    assert len(helpdesk.requests) == 4
    # Before the cool-down nothing goes to Zendesk, even when due.
    assert sender.run_once(NOW + timedelta(seconds=20)).delivered == 0
    assert len(helpdesk.requests) == 4
    # After it, one trial (half-open); it fails, and the breaker opens again.
    helpdesk.answer(500)
    report = sender.run_once(NOW + timedelta(seconds=31))
    assert report.retrying == 1 and sender.breakers["zendesk"].state == "open"
    assert len(helpdesk.requests) == 5
    # The next trial succeeds: closed, and the rest go out.
    at = NOW + timedelta(seconds=62)
    sender.run_once(at)
    assert sender.breakers["zendesk"].state == "closed"
    for _ in range(3):
        sender.run_once(at)
        at += timedelta(minutes=5)
    assert all(d.status == "delivered" for d in deliveries(db_sessions))


def test_an_undecodable_reply_is_retried_and_does_not_stick_the_breaker(
    db_sessions: sessionmaker[Session], sender: DeliverySender, helpdesk: FakeHelpdesk
) -> None:
    enqueue(db_sessions, "zendesk", "z1")
    # A 200 claiming gzip with a body that is not: httpx raises DecodingError while reading it.
    helpdesk.answer(200, {"Content-Encoding": "gzip"})
    assert sender.run_once(NOW).retrying == 1
    (d,) = deliveries(db_sessions)
    assert (d.status, d.attempts, d.last_error) == ("retrying", 1, "DecodingError")
    # The breaker opens; its half-open trial meets the same reply and must reopen it, not hang.
    helpdesk.answer(500, times=2)
    helpdesk.answer(200, {"Content-Encoding": "gzip"})
    at = NOW
    for _ in range(2):
        at = aware(deliveries(db_sessions)[0].next_attempt_at)  # type: ignore[assignment]
        assert sender.run_once(at).retrying == 1
    assert sender.breakers["zendesk"].state == "open"
    at += timedelta(seconds=31)
    assert sender.run_once(at).dead == 1  # its fourth attempt: the last
    assert sender.breakers["zendesk"].state == "open"
    (d,) = deliveries(db_sessions)
    assert (d.status, d.attempts, d.last_error) == ("dead", 4, "DecodingError")


def test_an_unexpected_error_in_one_send_settles_the_rest(
    db_sessions: sessionmaker[Session],
    sender: DeliverySender,
    helpdesk: FakeHelpdesk,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = writeback_module.writeback

    def breaks_on_one(**kwargs: Any) -> Any:
        if kwargs["external_id"] == "bad":
            raise RuntimeError("provider mapping broke")
        return real(**kwargs)

    monkeypatch.setattr(writeback_module, "writeback", breaks_on_one)
    enqueue(db_sessions, "zammad", "bad")
    enqueue(db_sessions, "zammad", "good")
    report = sender.run_once(NOW)
    assert (report.retrying, report.delivered) == (1, 1)
    bad, good = deliveries(db_sessions)
    assert (bad.status, bad.attempts, bad.last_error, bad.claimed_until) == (
        "retrying",
        1,
        "RuntimeError",
        None,
    )
    assert (good.status, good.claimed_until) == ("delivered", None)
    assert len(helpdesk.requests) == 1


def test_breaker_and_retry_after_units() -> None:
    breaker = CircuitBreaker(failures=2, cooldown=10)
    assert breaker.allow(0)
    breaker.failed(0)
    assert breaker.allow(1)
    breaker.failed(1)
    assert not breaker.allow(5) and breaker.allow(11) and not breaker.allow(11.5)  # one trial only
    # The trial's outcome never arrived: after another cool-down a new trial goes through.
    assert not breaker.allow(20) and breaker.allow(21) and not breaker.allow(21.5)
    breaker.succeeded()
    assert breaker.allow(22)
    assert retry_after_seconds("120", NOW) == 120
    assert retry_after_seconds("soon", NOW) is None and retry_after_seconds(None, NOW) is None
    assert retry_after_seconds(format_datetime(NOW - timedelta(seconds=5), usegmt=True), NOW) == 0
