"""What the client raises: every failure is a ``TriageError``.

An answer with an error status becomes an ``APIError`` (one subclass per status a caller may want
to catch) carrying the status and the service's ``{"error": {"code", "message", "details"?},
"request_id"}``; a service that could not be reached or did not answer in time becomes a
``TriageConnectionError``. ``attempts`` says how many times the call was sent before giving up.
"""

from __future__ import annotations

from typing import Any

import httpx


class TriageError(Exception):
    """Base of everything the client raises."""

    def __init__(self, message: str, *, attempts: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.attempts = attempts


class TriageConnectionError(TriageError):
    """No answer: the connection failed or broke (the original httpx error is the ``__cause__``)."""


class TriageTimeoutError(TriageConnectionError):
    """No answer within the client's timeout."""


class UnexpectedResponseError(TriageError):
    """A success status whose body is not what this client knows how to read."""


class APIError(TriageError):
    """The service (or a proxy before it) answered with an error status."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        code: str,
        details: list[dict[str, Any]] | None = None,
        request_id: str | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(message, attempts=attempts)
        self.status_code = status_code
        self.code = code
        self.details = details
        self.request_id = request_id

    def __str__(self) -> str:
        return f"{self.status_code} {self.code}: {self.message}"


class BadRequestError(APIError):
    """400: the body could not be read (not UTF-8)."""


class AuthenticationError(APIError):
    """401: no key, or an unknown or revoked one."""


class PermissionDeniedError(APIError):
    """403: the key's role may not do this (``forbidden``) or the agent does not hold the item (``not_holder``)."""


class NotFoundError(APIError):
    """404: no such ticket or queue item."""


class ConflictError(APIError):
    """409: another agent holds the item, or it is resolved."""


class PayloadTooLargeError(APIError):
    """413: the body is over the service's limit."""


class InvalidRequestError(APIError):
    """422: the body or a parameter breaks the schema; ``details`` name the fields."""


class RateLimitedError(APIError):
    """429: too many requests (retried before it is raised)."""


class ServerError(APIError):
    """5xx: the service failed or is not ready (503, retried before it is raised)."""


_BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    422: InvalidRequestError,
    429: RateLimitedError,
}


def error_from_response(response: httpx.Response, *, attempts: int) -> APIError:
    """The typed error for an error answer, read from the service's JSON error body when it has one."""
    status = response.status_code
    kind = _BY_STATUS.get(status, ServerError if status >= 500 else APIError)
    code, message = "http_error", response.reason_phrase or f"HTTP {status}"
    details: list[dict[str, Any]] | None = None
    request_id: str | None = None
    try:
        body = response.json()
    except ValueError:  # a proxy's HTML page, or no body at all
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        code = str(error.get("code", code))
        message = str(error.get("message", message))
        details = error.get("details") if isinstance(error.get("details"), list) else None
        request_id = body.get("request_id") if isinstance(body.get("request_id"), str) else None
    return kind(
        message, status_code=status, code=code, details=details, request_id=request_id, attempts=attempts
    )
