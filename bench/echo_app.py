"""The HTTP references: the same request body and validation as ``POST /v1/score``, no model.

``create_app`` answers on the event loop (``async def``), as the scoring route does;
``create_threaded_app`` answers from the thread pool (plain ``def``), the FastAPI default for
blocking code. Both validate the body with the service's own ``TicketScoreRequest``.
"""

from __future__ import annotations

from fastapi import FastAPI

from service.scoring.schemas import TicketScoreRequest


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def create_app() -> FastAPI:
    app = _app()

    @app.post("/v1/score")
    async def echo(ticket: TicketScoreRequest) -> dict[str, object]:
        return {"id": ticket.id, "route": "automation", "chars": len(ticket.text)}

    return app


def create_threaded_app() -> FastAPI:
    app = _app()

    @app.post("/v1/score")
    def echo(ticket: TicketScoreRequest) -> dict[str, object]:
        return {"id": ticket.id, "route": "automation", "chars": len(ticket.text)}

    return app
