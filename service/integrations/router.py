"""``POST /v1/webhooks/{source}``: helpdesk webhooks, authenticated by their signatures, not by keys.

The body is read raw, since the signature is over the exact bytes sent. The route does no
scoring (the inbox does): it checks the signature on the event loop and awaits the inbox
writer's commit (see ``service.integrations.service``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request

from service.errors import ERROR_RESPONSES, ErrorResponse, StorageDisabledError, TriageError
from service.integrations.metrics import WEBHOOKS
from service.integrations.schemas import WebhookReceipt
from service.integrations.service import InboxWriter, read_webhook

router = APIRouter(prefix="/v1", tags=["integrations"], responses=ERROR_RESPONSES)
WEBHOOK_PATH = "/v1/webhooks/{source}"


async def raw_body(request: Request) -> bytes:
    return await request.body()


RawBody = Annotated[bytes, Depends(raw_body)]


@router.post(
    "/webhooks/{source}",
    status_code=202,
    response_model=WebhookReceipt,
    responses={
        401: {
            "model": ErrorResponse,
            "description": "Unsigned, badly signed or outside the timestamp tolerance.",
        },
        404: {"model": ErrorResponse, "description": "No integration of that name is configured."},
        422: {"model": ErrorResponse, "description": "Signed, but not a ticket event of that helpdesk."},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "The helpdesk's webhook payload (see README: Helpdesk integrations).",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
async def receive_webhook(
    request: Request,
    body: RawBody,
    source: Annotated[str, Path(max_length=64, description="The integration's name in TRIAGE_INTEGRATIONS.")],
) -> WebhookReceipt:
    """Verify a helpdesk's webhook, store the ticket event in the inbox, and acknowledge it (202)."""
    state = request.app.state
    writer: InboxWriter | None = getattr(state, "inbox", None)
    if writer is None:
        raise StorageDisabledError("storage is off (TRIAGE_STORAGE=false): webhooks cannot be kept")
    label = source if source in state.settings.integrations else "unknown"
    try:
        delivery_id, event = read_webhook(
            integrations=state.settings.integrations,
            source=source,
            headers=request.headers,
            body=body,
            tolerance=state.settings.webhook_tolerance_seconds,
            now=datetime.now(UTC),
        )
    except TriageError:
        WEBHOOKS.labels(label, "refused").inc()
        raise
    if event is None:
        WEBHOOKS.labels(label, "ignored").inc()
        return WebhookReceipt(status="ignored", delivery_id=delivery_id)
    added = await writer.add(source=source, delivery_id=delivery_id, event=event)
    status = "accepted" if added else "duplicate"
    WEBHOOKS.labels(label, status).inc()
    return WebhookReceipt(status=status, delivery_id=delivery_id)
