"""The client's models say what the service's OpenAPI schema says, and the client stands alone."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from pydantic import BaseModel

from service.config import Settings
from service.main import create_app
from triage_client import (
    Customer,
    DimensionScores,
    Feedback,
    OutcomeReport,
    QueueItem,
    QueuePage,
    Reason,
    ScoreEvent,
    ScoreResult,
    StoredTicket,
    Ticket,
)

# client model -> the service's schema component it mirrors
MIRRORS: list[tuple[type[BaseModel], str]] = [
    (Ticket, "TicketScoreRequest"),
    (Customer, "Customer"),
    (ScoreResult, "TicketScore"),
    (Reason, "Reason"),
    (DimensionScores, "DimensionScores"),
    (StoredTicket, "StoredTicket"),
    (ScoreEvent, "ScoreEventOut"),
    (QueueItem, "QueueItemOut"),
    (QueuePage, "QueuePage"),
    (Feedback, "FeedbackOut"),
    (OutcomeReport, "OutcomeOut"),
]


@pytest.fixture(scope="module")
def components() -> dict[str, Any]:
    schema = create_app(Settings()).openapi()
    return dict(schema["components"]["schemas"])


@pytest.mark.parametrize(("model", "component"), MIRRORS, ids=[c for _, c in MIRRORS])
def test_models_have_the_services_fields(
    components: dict[str, Any], model: type[BaseModel], component: str
) -> None:
    served = components[component]
    assert set(model.model_fields) == set(served["properties"]), component
    required = {name for name, f in model.model_fields.items() if f.is_required()}
    # An answer's field the service always sends is one the client requires, and the other way round.
    assert required == set(served.get("required", [])), component


def test_the_client_imports_neither_the_service_nor_training() -> None:
    code = (
        "import sys, triage_client\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('service', 'training', 'fastapi'))\n"
        "print(','.join(loaded))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
