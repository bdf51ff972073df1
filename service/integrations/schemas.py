"""Bodies of the webhook endpoint's answers."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class WebhookReceipt(BaseModel):
    """The webhook is safely stored (``accepted``), was stored before (``duplicate``), or carried
    nothing to score (``ignored``: another kind of event, an agent's note)."""

    status: Literal["accepted", "duplicate", "ignored"]
    delivery_id: str = Field(
        description="The id the inbox deduplicates on: the provider's, else sha256 of the body."
    )
