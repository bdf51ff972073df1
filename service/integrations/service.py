"""Receiving a webhook: verify its signature, read the ticket, commit it to the inbox, then answer.

The answer (202) comes only after the commit, so a webhook acknowledged is never lost; scoring
happens later, from the inbox (``service.integrations.inbox``). Nothing is stored for a bad
signature (401), an unknown source (404) or a body that is not a ticket event (422).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from service.config import Integration
from service.errors import NotFoundError
from service.integrations import repository
from service.integrations.providers import parse
from service.integrations.schemas import WebhookReceipt
from service.integrations.signatures import verify
from service.storage.database import write_turn


def receive_webhook(
    *,
    session: Session,
    integrations: Mapping[str, Integration],
    source: str,
    headers: Mapping[str, str],
    body: bytes,
    tolerance: float,
    now: datetime | None = None,
) -> WebhookReceipt:
    """Verify, parse and store one webhook; what to answer."""
    now = now or datetime.now(UTC)
    integration = integrations.get(source)
    if integration is None:
        # Webhooks are only accepted for a configured integration, i.e. one with a secret.
        raise NotFoundError(f"no integration named {source!r} is configured (TRIAGE_INTEGRATIONS)")
    delivery_id = verify(
        integration=integration, headers=headers, body=body, now=now.timestamp(), tolerance=tolerance
    )
    assert integration.provider is not None
    event = parse(provider=integration.provider, source=source, body=body)
    if event is None:
        return WebhookReceipt(status="ignored", delivery_id=delivery_id)
    with write_turn(session.get_bind()):  # type: ignore[arg-type]
        added = repository.add_to_inbox(
            session,
            source=source,
            delivery_id=delivery_id,
            event=event.event,
            external_id=event.external_id,
            ticket=event.ticket.model_dump_json(exclude_none=True),
            now=now,
        )
        session.commit()
    return WebhookReceipt(status="accepted" if added else "duplicate", delivery_id=delivery_id)
