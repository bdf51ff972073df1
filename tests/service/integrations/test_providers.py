"""Each helpdesk's payload as the ticket scored, and the write-back request each gets."""

from __future__ import annotations

import json

import pytest

from service.integrations.providers import PayloadError, html_text, parse, writeback
from service.scoring.schemas import MAX_TEXT_CHARS
from tests.service.integrations.conftest import payload


def test_zendesk_event_created_and_comment_added() -> None:
    created = parse(provider="zendesk", source="zendesk", body=payload("zendesk_ticket_created"))
    assert created is not None and created.event == "ticket.created"
    ticket = created.ticket
    assert (ticket.id, ticket.source, ticket.channel) == ("81723", "zendesk", "web_form")
    assert ticket.subject == "Still getting letters for my late mother"
    assert ticket.text.startswith("This is the third time") and ticket.customer is not None
    assert ticket.customer.id == "15063281723"
    updated = parse(provider="zendesk", source="zendesk", body=payload("zendesk_comment_added"))
    assert updated is not None and updated.event == "ticket.comment_added" and updated.external_id == "81723"
    # The description, then the new comment.
    assert updated.ticket.text.startswith("This is the third time")
    assert updated.ticket.text.endswith("I am going to the ombudsman.")


@pytest.mark.parametrize("change", [{"is_public": False}, {"author": {"id": "9873843", "is_staff": True}}])
def test_zendesk_agent_comments_are_ignored(change: dict[str, object]) -> None:
    event = json.loads(payload("zendesk_comment_added"))
    event["event"]["comment"].update(change)
    assert parse(provider="zendesk", source="zendesk", body=json.dumps(event).encode()) is None


@pytest.mark.parametrize(
    "kind",
    [
        "ticket.priority_changed",
        "ticket.status_changed",
        "ticket.tags_changed",
        "ticket.group_assignment_changed",
    ],
)
def test_zendesk_changes_without_new_words_are_ignored(kind: str) -> None:
    """An agent's priority change (or our own write-back's) must not re-score and overwrite it."""
    event = json.loads(payload("zendesk_ticket_created"))
    event["type"] = f"zen:event-type:{kind}"
    assert parse(provider="zendesk", source="zendesk", body=json.dumps(event).encode()) is None


def test_zendesk_trigger_shape_and_other_events() -> None:
    trigger = parse(provider="zendesk", source="zendesk", body=payload("zendesk_trigger"))
    assert trigger is not None and trigger.external_id == "90211"
    # description and latest comment are the same message: it is scored once.
    assert trigger.ticket.text == "Hi, how do I reset my password? Thanks!"
    assert parse(provider="zendesk", source="zendesk", body=payload("zendesk_user_created")) is None


def test_generic_long_text_is_cut_and_nul_dropped_not_refused() -> None:
    event = json.loads(payload("generic_ticket_created"))
    event["data"]["text"] = "a\x00b " + "word " * 5_000
    event["data"]["subject"] = "sub\x00ject"
    parsed = parse(provider="generic", source="acme", body=json.dumps(event).encode())
    assert parsed is not None
    assert len(parsed.ticket.text) == 20_000 and parsed.ticket.text.startswith("ab ")
    assert parsed.ticket.subject == "subject"


def test_freshdesk_html_description() -> None:
    event = parse(provider="freshdesk", source="freshdesk", body=payload("freshdesk_ticket_created"))
    assert event is not None and event.external_id == "4417" and event.event == "ticket.created"
    assert event.ticket.text == (
        "Goedemiddag,\nMijn factuur van november is €84 te hoog. Kunt u dit nakijken?\nMet vriendelijke groet,\nSanne"
    )
    assert event.ticket.channel == "Email" and event.ticket.customer is not None


def test_zammad_customer_article_and_agent_note() -> None:
    event = parse(provider="zammad", source="zammad", body=payload("zammad_ticket_created"))
    assert event is not None and event.external_id == "512" and event.event == "ticket.created"
    assert event.ticket.text.startswith("My internet has been down for a week.")
    assert "<div>" not in event.ticket.text and event.ticket.channel == "email"
    assert parse(provider="zammad", source="zammad", body=payload("zammad_agent_note")) is None


def test_generic_is_the_scoring_api_ticket() -> None:
    event = parse(provider="generic", source="acme", body=payload("generic_ticket_created"))
    assert event is not None and event.ticket.source == "acme" and event.ticket.previous_contacts == 0
    assert parse(provider="generic", source="acme", body=b'{"type": "ticket.deleted", "data": {}}') is None


@pytest.mark.parametrize(
    ("provider", "body", "says"),
    [
        ("zendesk", b"not json", "not JSON"),
        ("zendesk", b"[1, 2]", "the body must be a JSON object"),
        ("zendesk", b'{"ticket": {"description": "hi"}}', "ticket.id"),
        ("zendesk", b'{"type": "zen:event-type:ticket.created", "detail": {"id": true}}', "detail.id"),
        ("freshdesk", b'{"ticket": {}}', "freshdesk_webhook"),
        ("zammad", b'{"article": {"body": "x", "sender": "Customer"}}', "ticket must be"),
        (
            "acme",
            b'{"type": "ticket.created", "data": {"id": "1", "text": "hi", "colour": "red"}}',
            "data.colour",
        ),
        ("acme", b'{"type": "ticket.created", "data": {"id": "1", "text": ""}}', "data.text"),
    ],
)
def test_unreadable_payloads(provider: str, body: bytes, says: str) -> None:
    kind = "generic" if provider == "acme" else provider
    with pytest.raises(PayloadError, match=says.replace(".", r"\.")):
        parse(provider=kind, source=provider, body=body)


def test_long_text_is_cut_not_refused() -> None:
    body = json.dumps({"ticket": {"id": 1, "description": "word " * 10_000}}).encode()
    event = parse(provider="zendesk", source="zendesk", body=body)
    assert event is not None and len(event.ticket.text) == MAX_TEXT_CHARS


def test_html_text() -> None:
    assert html_text("<p>a &amp; b</p><p>c<br>d</p>") == "a & b\nc\nd"


DECISION = {"route": "human", "priority": "urgent", "needs_human": 0.97, "rules": ["bereavement"]}


def test_writeback_requests() -> None:
    zendesk = writeback(
        provider="zendesk",
        base_url="https://acme.zendesk.com/",
        source="zendesk",
        external_id="81723",
        decision=DECISION,
        group_id=42,
    )
    assert (zendesk.method, zendesk.url) == ("PUT", "https://acme.zendesk.com/api/v2/tickets/81723")
    assert zendesk.body == {
        "ticket": {"priority": "urgent", "additional_tags": ["triage_human", "triage_urgent"], "group_id": 42}
    }
    fresh = writeback(
        provider="freshdesk",
        base_url="https://a.freshdesk.com",
        source="f",
        external_id="7",
        decision=DECISION,
        group_id=None,
    )
    assert (fresh.url, fresh.body) == ("https://a.freshdesk.com/api/v2/tickets/7", {"priority": 4})
    automated = {**DECISION, "route": "automation", "priority": "low"}
    zammad = writeback(
        provider="zammad",
        base_url="https://z.example",
        source="z",
        external_id="5",
        decision=automated,
        group_id=3,
    )
    # The group is only set for tickets routed to a person.
    assert (zammad.url, zammad.body) == ("https://z.example/api/v1/tickets/5", {"priority_id": 1})
    generic = writeback(
        provider="generic",
        base_url="https://hooks.example/in",
        source="acme",
        external_id="G-1",
        decision=DECISION,
        group_id=None,
    )
    assert (generic.method, generic.url) == ("POST", "https://hooks.example/in")
    assert generic.body["ticket_id"] == "G-1" and generic.body["route"] == "human"


@pytest.mark.parametrize("provider", ["zendesk", "freshdesk", "zammad"])
def test_a_ticket_id_cannot_point_the_write_back_elsewhere(provider: str) -> None:
    request = writeback(
        provider=provider,
        base_url="https://acme.example",
        source=provider,
        external_id="1/../../users/5",
        decision={"route": "human", "priority": "high"},
        group_id=None,
    )
    assert request.url.endswith("/tickets/1%2F..%2F..%2Fusers%2F5")
