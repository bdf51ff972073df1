"""``/dashboard``: the connection dashboard in a browser, for leads and ops."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import Response

from service.dashboard.router import period
from service.dashboard.service import build_dashboard
from service.errors import TriageError
from service.pages.charts import days_chart, outcome_chart
from service.pages.web import html, signed_in, store_of

router = APIRouter(include_in_schema=False)


def _day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


@router.get("/dashboard")
def dashboard_page(request: Request, start: str | None = None, end: str | None = None) -> Response:
    page = signed_in(request, ("lead",))
    first, last = _day(start), _day(end)
    until = datetime.combine(last + timedelta(days=1), time(), UTC) if last else None
    since = datetime.combine(first, time(), UTC) if first else None
    try:
        since, until = period(since, until)
    except TriageError as exc:
        return html(request, "notice.html", {"page": page, "message": exc.message}, exc.status_code)
    with store_of(request).sessions() as session:
        data = build_dashboard(session=session, start=since, end=until)
    context = {
        "page": page,
        "data": data,
        "first_day": since.date().isoformat(),
        "last_day": (until - timedelta(seconds=1)).date().isoformat(),
        "charts": [
            days_chart(data.days),
            outcome_chart(data.outcomes, measure="csat"),
            outcome_chart(data.outcomes, measure="reopened"),
        ],
    }
    return html(request, "dashboard.html", context)
