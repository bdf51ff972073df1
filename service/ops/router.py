"""``/healthz`` (the process is up), ``/readyz`` (a model is loaded) and ``/metrics``."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from service.observability import metrics_exposition

router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """Alive: answers as long as the process serves HTTP."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "The model is not loaded yet."}})
def readyz(request: Request) -> JSONResponse:
    """Ready: a verified model and a valid routing policy are loaded."""
    scorer = getattr(request.app.state, "scorer", None)
    if scorer is None:
        return JSONResponse({"status": "loading"}, status_code=503)
    return JSONResponse(
        {"status": "ready", "model_version": scorer.model.version, "policy_version": scorer.policy.version}
    )


@router.get("/metrics", include_in_schema=False)
def metrics() -> Response:
    """Prometheus exposition format, every worker's metrics together."""
    return Response(metrics_exposition(), media_type=CONTENT_TYPE_LATEST)
