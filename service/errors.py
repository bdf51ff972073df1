"""Errors that carry their HTTP status, and the handlers that render every error as JSON.

Bodies look like ``{"error": {"code", "message", "details"?}, "request_id"}``. Validation details
name the field and the rule, never the input, so a ticket's text is never echoed back or logged.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.scoring.schemas import redact_loc


class ErrorDetail(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ErrorInfo(BaseModel):
    code: str
    message: str
    details: list[ErrorDetail] | None = None


class ErrorResponse(BaseModel):
    """Every error the service returns has this shape."""

    error: ErrorInfo
    request_id: str | None


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    413: {"model": ErrorResponse, "description": "The request body is larger than TRIAGE_MAX_BODY_BYTES."},
    429: {"model": ErrorResponse, "description": "The key is over its rate limit: retry after Retry-After."},
    422: {"model": ErrorResponse, "description": "The body is not valid JSON or breaks the schema."},
    503: {"model": ErrorResponse, "description": "The model is not loaded yet."},
}


class TriageError(Exception):
    """Base of the service's errors; subclasses set the status and code."""

    status_code = 500
    code = "internal_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ModelNotReadyError(TriageError):
    status_code = 503
    code = "model_not_ready"


class NotFoundError(TriageError):
    status_code = 404
    code = "not_found"


class IdempotencyKeyReusedError(TriageError):
    status_code = 422
    code = "idempotency_key_reused"


class UnauthorizedError(TriageError):
    status_code = 401
    code = "unauthorized"


class AgentRequiredError(TriageError):
    status_code = 422
    code = "agent_required"


class ConflictError(TriageError):
    status_code = 409
    code = "conflict"


class GateRefusedError(ConflictError):
    """The promotion gate found the candidate worse than the champion."""

    code = "gate_refused"


class ForbiddenError(TriageError):
    status_code = 403
    code = "forbidden"


class NotHolderError(ForbiddenError):
    """The role may act on queue items, but this agent does not hold this one."""

    code = "not_holder"


class RateLimitedError(TriageError):
    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class InvalidCursorError(TriageError):
    status_code = 422
    code = "invalid_cursor"


class InvalidPeriodError(TriageError):
    status_code = 422
    code = "invalid_period"


class StorageDisabledError(TriageError):
    status_code = 404
    code = "storage_disabled"


def _body(
    request: Request, code: str, message: str, details: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return {"error": error, "request_id": getattr(request.state, "request_id", None)}


def _safe_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [
        {"loc": redact_loc(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(
            _body(request, "validation_error", "the request body is not valid", _safe_details(exc)),
            status_code=422,
        )

    @app.exception_handler(TriageError)
    async def _triage(request: Request, exc: TriageError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
        if isinstance(exc, RateLimitedError):
            headers = {"Retry-After": str(exc.retry_after)}
        return JSONResponse(
            _body(request, exc.code, exc.message), status_code=exc.status_code, headers=headers
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(
            _body(request, code, str(exc.detail)),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(_body(request, "internal_error", "internal server error"), status_code=500)
