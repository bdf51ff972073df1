"""What each helpdesk sends, as a ticket to score; and what goes back to it, as an HTTP request.

In: the ticket's id becomes the scored ticket's ``id`` and the integration's name its
``source``, so an update of the same helpdesk ticket updates the same stored record. The text
scored is the ticket's description followed by the message the update carries (the new comment
or article), since a person reads the conversation, not the last line; HTML is reduced to its
text. An event that carries nothing to score (another kind of event, an agent's internal note)
is acknowledged and ignored.

Out: a write-back is a PUT of state (priority, group, tags), so sending it twice does no harm.
"""

from __future__ import annotations

import html.parser
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from pydantic import ValidationError

from service.errors import TriageError
from service.scoring.schemas import MAX_TEXT_CHARS, TicketScoreRequest

MAX_SUBJECT = 1_000
MAX_SHORT = 256
MAX_CHANNEL = 64


class PayloadError(TriageError):
    """A correctly signed body that is not a ticket event this integration understands."""

    status_code = 422
    code = "invalid_payload"


@dataclass(frozen=True)
class TicketEvent:
    event: str
    ticket: TicketScoreRequest

    @property
    def external_id(self) -> str:
        assert self.ticket.id is not None
        return self.ticket.id


class _Text(html.parser.HTMLParser):
    BLOCKS = frozenset({"p", "div", "br", "li", "tr", "blockquote", "h1", "h2", "h3", "h4", "pre"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_text(markup: str) -> str:
    """The text of an HTML fragment, block elements on lines of their own."""
    parser = _Text()
    parser.feed(markup)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return "\n".join(line for line in lines if line)


def _obj(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PayloadError(f"{where} must be a JSON object")
    return value


def _id(value: Any, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).strip():
        raise PayloadError(f"{where} must be a ticket id (string or integer)")
    text = str(value).strip()
    if len(text) > MAX_SHORT:
        raise PayloadError(f"{where} is longer than {MAX_SHORT} characters")
    return text


def _str(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise PayloadError(f"{where} must be a string")
    return value


def _ticket(
    *,
    source: str,
    external_id: str,
    parts: list[str | None],
    subject: str | None,
    channel: Any,
    customer: Any,
) -> TicketScoreRequest | None:
    # NUL cannot be stored and no helpdesk means it; over-long text is scored on its first
    # 20,000 characters rather than refused, since a refused webhook would be lost.
    texts = [p.replace("\x00", "").strip() for p in parts if p]
    text = "\n\n".join(dict.fromkeys(t for t in texts if t))[:MAX_TEXT_CHARS]
    if not text.strip():
        return None
    fields: dict[str, Any] = {"id": external_id, "source": source, "text": text}
    if subject and subject.strip():
        fields["subject"] = subject.replace("\x00", "")[:MAX_SUBJECT]
    if isinstance(channel, str) and channel.strip():
        fields["channel"] = channel.strip()[:MAX_CHANNEL]
    if isinstance(customer, int | str) and not isinstance(customer, bool) and str(customer).strip():
        fields["customer"] = {"id": str(customer).strip()[:MAX_SHORT]}
    try:
        return TicketScoreRequest.model_validate(fields)
    except ValidationError as exc:  # the message names the field, never the value
        first = exc.errors()[0]
        raise PayloadError(f"the ticket's {first['loc'][0]} is not valid: {first['msg']}") from exc


ZENDESK_SCORED_EVENTS = ("zen:event-type:ticket.created", "zen:event-type:ticket.comment_added")


def parse_zendesk(source: str, payload: dict[str, Any]) -> TicketEvent | None:
    """A Zendesk event subscription (``zen:event-type:ticket.*``) or a trigger's ``{"ticket": {...}}``."""
    kind = payload.get("type")
    if isinstance(kind, str):
        # Only what a customer can have written: a new ticket or a comment. Priority, status, group
        # and tag changes (an agent's, or our own write-back's) would re-score the same words and
        # write the decision over what an agent just set.
        if kind not in ZENDESK_SCORED_EVENTS:
            return None
        detail = _obj(payload.get("detail"), "detail")
        comment = _obj(_obj(payload.get("event") or {}, "event").get("comment") or {}, "event.comment")
        author = comment.get("author")
        if comment and (
            comment.get("is_public") is False or (isinstance(author, dict) and author.get("is_staff"))
        ):
            return None  # an agent's reply or an internal note: the customer said nothing new
        said = _str(comment.get("body"), "event.comment.body")
        via = detail.get("via")
        ticket = _ticket(
            source=source,
            external_id=_id(detail.get("id"), "detail.id"),
            parts=[_str(detail.get("description"), "detail.description"), said],
            subject=_str(detail.get("subject"), "detail.subject"),
            channel=via.get("channel") if isinstance(via, dict) else None,
            customer=detail.get("requester_id"),
        )
        return None if ticket is None else TicketEvent(kind.removeprefix("zen:event-type:"), ticket)
    body = _obj(payload.get("ticket"), "ticket")
    requester = body.get("requester")
    ticket = _ticket(
        source=source,
        external_id=_id(body.get("id"), "ticket.id"),
        parts=[
            _str(body.get("description"), "ticket.description"),
            _str(body.get("latest_comment"), "ticket.latest_comment"),
        ],
        subject=_str(body.get("subject"), "ticket.subject"),
        channel=body.get("via"),
        customer=requester.get("id") if isinstance(requester, dict) else None,
    )
    event = body.get("event") if isinstance(body.get("event"), str) else "ticket"
    return None if ticket is None else TicketEvent(str(event)[:64], ticket)


def parse_freshdesk(source: str, payload: dict[str, Any]) -> TicketEvent | None:
    """An automation rule's ``{"freshdesk_webhook": {"ticket_id", "ticket_description", ...}}``."""
    body = _obj(payload.get("freshdesk_webhook"), "freshdesk_webhook")
    description = _str(body.get("ticket_description"), "ticket_description")
    comment = _str(body.get("ticket_latest_public_comment"), "ticket_latest_public_comment")
    ticket = _ticket(
        source=source,
        external_id=_id(body.get("ticket_id"), "ticket_id"),
        parts=[html_text(description) if description else None, html_text(comment) if comment else None],
        subject=_str(body.get("ticket_subject"), "ticket_subject"),
        channel=body.get("ticket_source"),
        customer=body.get("ticket_contact_id") or body.get("ticket_requester_id"),
    )
    event = body.get("triage_event") if isinstance(body.get("triage_event"), str) else "ticket"
    return None if ticket is None else TicketEvent(str(event)[:64], ticket)


def parse_zammad(source: str, payload: dict[str, Any]) -> TicketEvent | None:
    """A Zammad trigger's ``{"ticket": {...}, "article": {...}}``; only a customer's public article is scored."""
    body = _obj(payload.get("ticket"), "ticket")
    article = _obj(payload.get("article") or {}, "article")
    sender = article.get("sender")
    if not article or article.get("internal") is True or (isinstance(sender, str) and sender != "Customer"):
        return None
    said = _str(article.get("body"), "article.body") or ""
    if article.get("content_type") == "text/html":
        said = html_text(said)
    kind = article.get("type")
    count = body.get("article_count")
    ticket = _ticket(
        source=source,
        external_id=_id(body.get("id"), "ticket.id"),
        parts=[said],
        subject=_str(body.get("title"), "ticket.title"),
        channel=kind.get("name") if isinstance(kind, dict) else kind,
        customer=body.get("customer_id"),
    )
    event = "ticket.created" if isinstance(count, int) and count <= 1 else "ticket.updated"
    return None if ticket is None else TicketEvent(event, ticket)


def parse_generic(source: str, payload: dict[str, Any]) -> TicketEvent | None:
    """``{"type": "ticket.created"|"ticket.updated", "data": {the scoring API's ticket, id required}}``."""
    kind = payload.get("type")
    if kind not in ("ticket.created", "ticket.updated"):
        return None
    data = dict(_obj(payload.get("data"), "data"))
    data["id"] = _id(data.get("id"), "data.id")
    data["source"] = source
    # As for the helpdesks: cut, not refused, since a refused webhook would be lost.
    if isinstance(data.get("text"), str):
        data["text"] = data["text"].replace("\x00", "")[:MAX_TEXT_CHARS]
    if isinstance(data.get("subject"), str):
        data["subject"] = data["subject"].replace("\x00", "")[:MAX_SUBJECT]
    try:
        ticket = TicketScoreRequest.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"][:1])
        raise PayloadError(f"data.{loc} is not valid: {first['msg']}") from exc
    return TicketEvent(str(kind), ticket)


PARSERS = {
    "zendesk": parse_zendesk,
    "freshdesk": parse_freshdesk,
    "zammad": parse_zammad,
    "generic": parse_generic,
}


def parse(*, provider: str, source: str, body: bytes) -> TicketEvent | None:
    """The ticket event in a verified body; None when it carries nothing to score; 422 when unreadable."""
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise PayloadError("the body is not JSON") from exc
    return PARSERS[provider](source, _obj(payload, "the body"))


# Our priorities in each helpdesk's terms (Freshdesk and Zammad number theirs; Zammad has three).
FRESHDESK_PRIORITY = {"low": 1, "normal": 2, "high": 3, "urgent": 4}
ZAMMAD_PRIORITY = {"low": 1, "normal": 2, "high": 3, "urgent": 3}


@dataclass(frozen=True)
class Outgoing:
    method: str
    url: str
    body: dict[str, Any]


def writeback(
    *,
    provider: str,
    base_url: str,
    source: str,
    external_id: str,
    decision: dict[str, Any],
    group_id: int | None,
) -> Outgoing:
    """The request that writes ``decision`` onto the helpdesk ticket ``external_id``."""
    base = base_url.rstrip("/")
    # The id came in a webhook: escaped, so that "1/../../users/5" cannot point the PUT elsewhere.
    human = decision["route"] == "human"
    group: dict[str, Any] = {"group_id": group_id} if human and group_id is not None else {}
    if provider == "zendesk":
        # additional_tags adds to the ticket's tags instead of replacing them.
        tags = ["triage_human" if human else "triage_automation", f"triage_{decision['priority']}"]
        fields = {"priority": decision["priority"], "additional_tags": tags, **group}
        return Outgoing("PUT", f"{base}/api/v2/tickets/{quote(external_id, safe='')}", {"ticket": fields})
    if provider == "freshdesk":
        body: dict[str, Any] = {"priority": FRESHDESK_PRIORITY[decision["priority"]], **group}
        return Outgoing("PUT", f"{base}/api/v2/tickets/{quote(external_id, safe='')}", body)
    if provider == "zammad":
        body = {"priority_id": ZAMMAD_PRIORITY[decision["priority"]], **group}
        return Outgoing("PUT", f"{base}/api/v1/tickets/{quote(external_id, safe='')}", body)
    body = {"type": "ticket.routed", "source": source, "ticket_id": external_id, **decision}
    return Outgoing("POST", base_url, body)
