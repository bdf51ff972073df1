"""A typed Python client for the ticket-triage service: ``TriageClient`` (sync) and
``AsyncTriageClient`` (asyncio), on httpx, with timeouts and safe retries.

It imports neither ``service`` nor ``training``: a helpdesk can use it without the web app.
"""

from triage_client.async_client import AsyncTriageClient
from triage_client.calls import DEFAULT_RETRY, DEFAULT_TIMEOUT
from triage_client.client import TriageClient
from triage_client.errors import (
    APIError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitedError,
    ServerError,
    TriageConnectionError,
    TriageError,
    TriageTimeoutError,
    UnexpectedResponseError,
)
from triage_client.retry import RetryPolicy
from triage_client.schemas import (
    Customer,
    DimensionScores,
    Feedback,
    Health,
    OutcomeReport,
    QueueItem,
    QueuePage,
    Readiness,
    Reason,
    ScoreEvent,
    ScoreResult,
    StoredTicket,
    Ticket,
)

__all__ = [
    "DEFAULT_RETRY",
    "DEFAULT_TIMEOUT",
    "APIError",
    "AsyncTriageClient",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "Customer",
    "DimensionScores",
    "Feedback",
    "Health",
    "InvalidRequestError",
    "NotFoundError",
    "OutcomeReport",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "QueueItem",
    "QueuePage",
    "RateLimitedError",
    "Readiness",
    "Reason",
    "RetryPolicy",
    "ScoreEvent",
    "ScoreResult",
    "ServerError",
    "StoredTicket",
    "Ticket",
    "TriageClient",
    "TriageConnectionError",
    "TriageError",
    "TriageTimeoutError",
    "UnexpectedResponseError",
]
