"""``/ops``: the serving model, the registry and drift, for ops (in a browser, signed in)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from service.config import drift_limits
from service.monitoring.service import drift_report
from service.pages.web import html, signed_in, store_of
from service.registry import repository

router = APIRouter(include_in_schema=False)


@router.get("/ops")
def ops_page(request: Request) -> Response:
    page = signed_in(request, ("ops",))
    scorer = request.app.state.scorer
    settings = request.app.state.settings
    with store_of(request).sessions() as session:
        report = drift_report(session=session, metadata=scorer.model.metadata, limits=drift_limits(settings))
        versions = repository.list_versions(session, scorer.model.name)
    context = {
        "page": page,
        "model": scorer.model,
        "report": report,
        "limits": drift_limits(settings),
        "versions": versions,
    }
    return html(request, "ops.html", context)
