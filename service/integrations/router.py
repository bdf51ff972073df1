"""``POST /v1/webhooks/{source}``: helpdesk webhooks, authenticated by their signatures, not by keys.

The body is read raw, since the signature is over the exact bytes sent. The route does no
scoring (the inbox does), so it is a plain ``def`` in the thread pool like the other routes
that only touch the database.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request

from service.deps import SessionDep
from service.errors import ERROR_RESPONSES, ErrorResponse
from service.integrations import service
from service.integrations.schemas import WebhookReceipt

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
def receive_webhook(
    request: Request,
    session: SessionDep,
    body: RawBody,
    source: Annotated[str, Path(max_length=64, description="The integration's name in TRIAGE_INTEGRATIONS.")],
) -> WebhookReceipt:
    """Verify a helpdesk's webhook, store the ticket event in the inbox, and acknowledge it (202)."""
    settings = request.app.state.settings
    return service.receive_webhook(
        session=session,
        integrations=settings.integrations,
        source=source,
        headers=request.headers,
        body=body,
        tolerance=settings.webhook_tolerance_seconds,
    )
