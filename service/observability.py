"""Logs, metrics and the request id; a pure ASGI middleware so it costs little per request.

Logs are JSON lines from structlog. They carry the method, the route template, the status, the
duration and the request id, and never a request or response body: ticket text is personal data.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
import uuid
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = b"x-request-id"
_REQUEST_ID_RE = re.compile(rb"^[A-Za-z0-9._-]{1,64}$")

REQUEST_LATENCY = Histogram(
    "triage_http_request_duration_seconds",
    "HTTP request latency by route template and status.",
    ["method", "route", "status"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0),
)
TICKETS_SCORED = Counter("triage_tickets_scored_total", "Tickets scored, by route.", ["route"])
RULES_FIRED = Counter("triage_rules_fired_total", "Routing rules that fired, by rule.", ["rule"])
SCORES = Histogram(
    "triage_score",
    "Calibrated probability per dimension of scored tickets.",
    ["dimension"],
    buckets=tuple(round(0.05 * i, 2) for i in range(1, 21)),
)
LANGUAGES = Counter(
    "triage_tickets_language_total",
    "Scored tickets by detected language and support.",
    ["language", "supported"],
)
# A gauge rather than an Info, which Prometheus's multiprocess mode does not support: 1 for the
# model and policy serving, 0 for those served before (the latest write wins across workers).
MODEL_INFO = Gauge(
    "triage_model_info",
    "The model and routing policy serving requests (1), and those served before (0).",
    ["name", "version", "policy_version"],
    multiprocess_mode="mostrecent",
)
_served: set[tuple[str, str, str]] = set()


def publish_model(name: str, version: str, policy_version: str) -> None:
    """Say which model and policy serve from now on."""
    serving = (name, version, policy_version)
    for before in _served - {serving}:
        MODEL_INFO.labels(*before).set(0)
    MODEL_INFO.labels(*serving).set(1)
    _served.add(serving)


def metrics_exposition() -> bytes:
    """The exposition for ``/metrics``: this process's metrics, or with several workers
    (``PROMETHEUS_MULTIPROC_DIR`` set by ``triage serve``) all workers' together."""
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        return generate_latest()
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return generate_latest(registry)


class _CurrentStdout:
    """structlog's output: each line in one write to ``sys.stdout`` as it is at the time (test
    capture, a redirected stream), so that a logger bound once can be kept and reused."""

    def msg(self, message: str) -> None:
        stream = sys.stdout
        stream.write(message + "\n")
        stream.flush()

    log = debug = info = warn = warning = err = error = critical = exception = fatal = failure = msg


def _current_stdout(*args: Any) -> _CurrentStdout:
    return _CurrentStdout()


class _StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stdout`` is at the time (test capture, a redirected stream)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stdout
        super().emit(record)


def configure_logging(level: str = "info") -> None:
    """JSON lines on standard output, for our events and for uvicorn's and the libraries' alike."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    handler = _StdoutHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processor=structlog.processors.JSONRenderer(),
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
    # The middleware logs every request with its id; uvicorn's access line would repeat it.
    logging.getLogger("uvicorn.access").disabled = True
    structlog.configure(
        processors=[*shared, structlog.processors.JSONRenderer()],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level.upper()]),
        # Standard output, looked up at each call (twelve-factor logs; test capture works too).
        logger_factory=_current_stdout,
        cache_logger_on_first_use=False,
    )


logger = structlog.get_logger("triage")


async def _send_error(send: Send, status: int, code: str, message: str, request_id: str) -> None:
    """A JSON error response sent straight from the middleware, in the service's error shape."""
    body = json.dumps({"error": {"code": code, "message": message}, "request_id": request_id}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class RequestContextMiddleware:
    """Request id, body size limit (413), latency metric and one access log line per request."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        # Bound once, with the logging configured when the app's middleware is built: the lazy
        # module logger builds a new bound logger at every call, half of an access line's 43 us.
        # So a later configure_logging, or structlog.testing.capture_logs, does not reach this
        # app's access lines (tests read them from standard output instead).
        self.log = structlog.get_logger("triage").bind()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = dict(scope.get("headers") or [])
        given = headers.get(REQUEST_ID_HEADER, b"")
        request_id = given.decode() if _REQUEST_ID_RE.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500

        started_response = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, started_response
            if message["type"] == "http.response.start":
                status = message["status"]
                started_response = True
                message["headers"] = [*message.get("headers", []), (REQUEST_ID_HEADER, request_id.encode())]
            await send(message)

        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            declared = headers.get(b"content-length")
            if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
                await self._too_large(send_with_id, request_id)
                return
            body_receive = (
                await self._buffer_body(receive) if scope["method"] in {"POST", "PUT", "PATCH"} else receive
            )
            if body_receive is None:
                await self._too_large(send_with_id, request_id)
                return
            try:
                await self.app(scope, body_receive, send_with_id)
            except Exception as exc:
                # Answer here, inside the request's context, so a 500 carries its request id too.
                # Only the exception's type is logged: its message may quote the request.
                self.log.error("unhandled error", error_type=type(exc).__name__)
                if started_response:
                    raise
                status = 500
                await _send_error(send_with_id, 500, "internal_error", "internal server error", request_id)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            REQUEST_LATENCY.labels(scope["method"], template, str(status)).observe(elapsed)
            self.log.info(
                "request",
                method=scope["method"],
                route=template,
                status=status,
                duration_ms=round(elapsed * 1000, 3),
            )
            structlog.contextvars.unbind_contextvars("request_id")

    async def _buffer_body(self, receive: Receive) -> Receive | None:
        """Read the body up to the limit; None when it is larger (a chunked or lying client)."""
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return receive
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return None
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return replay

    async def _too_large(self, send: Send, request_id: str) -> None:
        message = f"request body exceeds {self.max_body_bytes} bytes"
        await _send_error(send, 413, "payload_too_large", message, request_id)
