"""``POST /v1/outcomes`` (helpdesk) and ``GET /v1/dashboard`` (lead, ops)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from service.dashboard import service
from service.dashboard.schemas import Dashboard, OutcomeOut, OutcomeRequest
from service.deps import SessionDep, require
from service.errors import ERROR_RESPONSES, ErrorResponse, InvalidPeriodError

router = APIRouter(prefix="/v1", tags=["dashboard"], responses=ERROR_RESPONSES)
MAX_DAYS = 366


def period(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    """The period asked for (default: the last 30 days), checked."""
    try:
        end = (
            (end or datetime.now(UTC)).astimezone(UTC)
            if end is None or end.tzinfo
            else end.replace(tzinfo=UTC)
        )
        start = start or end - timedelta(days=30)
        start = start.astimezone(UTC) if start.tzinfo else start.replace(tzinfo=UTC)
    except OverflowError as exc:  # a date at the very edge of the calendar, such as 0001-01-01
        raise InvalidPeriodError("the period lies outside the dates this service can count") from exc
    if start >= end:
        raise InvalidPeriodError("start must be before end")
    if end - start > timedelta(days=MAX_DAYS):
        raise InvalidPeriodError(f"a period spans at most {MAX_DAYS} days")
    return start, end


@router.post(
    "/outcomes",
    response_model=OutcomeOut,
    status_code=201,
    dependencies=[require("helpdesk")],
    responses={404: {"model": ErrorResponse, "description": "No such stored ticket."}},
)
def report_outcome(session: SessionDep, body: OutcomeRequest) -> OutcomeOut:
    """What became of a stored ticket: CSAT (1-5) and whether it was reopened."""
    return service.record_outcome(session=session, body=body)


@router.get("/dashboard", response_model=Dashboard, dependencies=[require("lead")])
def dashboard(
    session: SessionDep,
    start: Annotated[datetime | None, Query(description="Default: 30 days before end.")] = None,
    end: Annotated[datetime | None, Query(description="Default: now.")] = None,
) -> Dashboard:
    """The connection dashboard's figures for a period."""
    since, until = period(start, end)
    return service.build_dashboard(session=session, start=since, end=until)
