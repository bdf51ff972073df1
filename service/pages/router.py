"""The agents' page: ``/login``, ``/logout``, ``/queue`` and ``/queue/{id}``, and the buttons on them.

Server-rendered with Jinja2; htmx (served from the package) sends the buttons' forms and swaps
the one item they changed, so the list updates without a reload. The queue's own service
functions do the work, so the page and ``/v1/queue`` cannot disagree on the rules (leases,
holders, 409 and 403). Errors come back as a message in the page's message area, with the
item redrawn as it now stands.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Annotated, TypeVar, get_args

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from service.access.rate_limits import RateLimits
from service.access.service import Principal
from service.access.sessions import PAGE_ROLES, end_session, key_principal, start_session
from service.errors import TriageError
from service.pages.forms import FeedbackFormDep, feedback_from_form
from service.pages.web import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    csrf_ok,
    html,
    is_htmx,
    keys_required,
    redirect,
    safe_next,
    set_session_cookie,
    signed_in,
    store_of,
)
from service.queue import service as queue
from service.queue.schemas import DimensionName, Outcome, QueueItemOut, Status
from service.scoring.schemas import PriorityName

router = APIRouter(include_in_schema=False)
ItemId = Annotated[int, Path(ge=1, le=2**62)]
FormStr = Annotated[str, Form(max_length=5_000)]
ANY_PAGE_ROLE = PAGE_ROLES


@router.get("/")
def home() -> Response:
    return Response(status_code=303, headers={"Location": "/queue"})


def _login_page(
    request: Request,
    next_url: str,
    error: str | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    token = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(32)
    response = html(
        request,
        "login.html",
        {
            "error": error,
            "next": safe_next(next_url),
            "login_csrf": token,
            "open_mode": not keys_required(request),
        },
        status_code=status_code,
        headers=headers,
    )
    # A sign-in form needs a CSRF token too (login CSRF): a double-submitted cookie.
    response.set_cookie(LOGIN_COOKIE, token, max_age=3600, httponly=True, samesite="strict", path="/login")
    return response


@router.get("/login")
def login_form(request: Request, next: str | None = None) -> Response:
    return _login_page(request, next or "/queue")


@router.post("/login")
def login(
    request: Request,
    csrf_token: FormStr = "",
    api_key: FormStr = "",
    name: FormStr = "",
    next: FormStr = "/queue",
) -> Response:
    sent = request.cookies.get(LOGIN_COOKIE)
    if not sent or not secrets.compare_digest(sent, csrf_token):
        return _login_page(request, next, "The sign-in form had expired; please try again.", 403)
    settings = request.app.state.settings
    limits: RateLimits | None = request.app.state.rate_limits
    address = request.client.host if request.client else "unknown"
    if limits is not None and (wait := limits.sign_in_blocked(address)) is not None:
        message = f"Too many failed sign-ins from this address: try again in {wait} seconds."
        return _login_page(request, next, message, 429, {"Retry-After": str(wait)})
    with store_of(request).sessions() as session:
        if keys_required(request):
            found = key_principal(session=session, key=api_key.strip()) if api_key.strip() else None
            if found is None:
                if limits is not None:
                    limits.sign_in_failed(address)
                return _login_page(request, next, "That API key is unknown or revoked.", 401)
            key_id, principal = found
            if not principal.may(PAGE_ROLES):
                return _login_page(
                    request,
                    next,
                    f"This key has the {principal.role} role; the agents' page needs an agent or ops key.",
                    403,
                )
        else:
            if not name.strip() or len(name.strip()) > 128:
                return _login_page(request, next, "Give your name (1 to 128 characters).", 422)
            key_id, principal = None, Principal(name=name.strip(), role=None)
        token, _ = start_session(
            session=session, principal=principal, api_key_id=key_id, hours=settings.session_hours
        )
    landing = "/dashboard" if principal.role == "lead" and safe_next(next) == "/queue" else safe_next(next)
    response = redirect(request, landing)
    set_session_cookie(request, response, token, settings.session_hours * 3600)
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request, csrf_token: FormStr = "") -> Response:
    page = signed_in(request, ANY_PAGE_ROLE)
    if not csrf_ok(request, page, csrf_token):
        return _message(request, "The page is out of date: reload it and try again.", 403)
    with store_of(request).sessions() as session:
        end_session(session=session, token=request.cookies[SESSION_COOKIE])
    response = redirect(request, "/login")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


T = TypeVar("T")


def _choice(value: str | None, allowed: tuple[T, ...]) -> T | None:
    return next((a for a in allowed if a == value), None) if value else None


@router.get("/queue")
def queue_page(
    request: Request,
    status: str | None = "active",
    dimension: str | None = None,
    language: str | None = None,
    priority: str | None = None,
    cursor: str | None = None,
) -> Response:
    page = signed_in(request)
    filters = {
        "status": _choice(status, ("active", *get_args(Status))),
        "dimension": _choice(dimension, get_args(DimensionName)),
        "language": language if language and language.isalpha() and len(language) <= 3 else None,
        "priority": _choice(priority, get_args(PriorityName)),
    }
    error = None
    with store_of(request).sessions() as session:
        try:
            listing = queue.list_queue(session=session, cursor=cursor, limit=25, **filters)
        except TriageError as exc:
            listing, error = queue.list_queue(session=session, cursor=None, limit=25, **filters), exc.message
    context = {"page": page, "items": listing.items, "next_cursor": listing.next_cursor, "filters": filters}
    if is_htmx(request) and cursor:
        return html(request, "_more.html", context)
    if is_htmx(request) and request.headers.get("hx-target") == "items":
        return html(request, "_items.html", context)
    return html(request, "queue.html", {**context, "error": error}, status_code=422 if error else 200)


@router.get("/queue/{item_id}")
def item_page(request: Request, item_id: ItemId) -> Response:
    page = signed_in(request)
    with store_of(request).sessions() as session:
        try:
            item = queue.get_item(session=session, item_id=item_id)
        except TriageError as exc:
            return html(request, "notice.html", {"page": page, "message": exc.message}, exc.status_code)
        feedback = queue.feedback_of_item(session=session, item_id=item_id)
    return html(request, "detail.html", {"page": page, "item": item, "feedback": feedback, "view": "detail"})


def _message(request: Request, text: str, status_code: int, item: QueueItemOut | None = None) -> Response:
    page = signed_in(request, ANY_PAGE_ROLE)
    if not is_htmx(request):
        return html(request, "notice.html", {"page": page, "message": text}, status_code)
    return html(
        request,
        "_message.html",
        {"page": page, "message": text, "kind": "error", "item": item, "view": "list"},
        status_code=status_code,
        headers={"HX-Retarget": "#messages", "HX-Reswap": "innerHTML"},
    )


def _act(
    request: Request,
    item_id: int,
    view: str,
    form_token: str,
    action: Callable[[Session, str], QueueItemOut],
    done: str,
) -> Response:
    """Run one queue action for the signed-in agent and answer with the item as it now stands."""
    page = signed_in(request)
    view = "detail" if view == "detail" else "list"
    back = f"/queue/{item_id}" if view == "detail" else "/queue"
    if not csrf_ok(request, page, form_token):
        return _message(request, "The page is out of date: reload it and try again.", 403)
    with store_of(request).sessions() as session:
        try:
            item = action(session, page.principal.name)
        except TriageError as exc:
            try:
                now = queue.get_item(session=session, item_id=item_id)
            except TriageError:
                now = None
            return _message(request, exc.message, exc.status_code, now)
    if not is_htmx(request):
        return redirect(request, back)
    context = {"page": page, "item": item, "view": view, "message": done, "kind": "ok"}
    return html(request, "_item_changed.html", context)


@router.post("/queue/{item_id}/claim")
def claim(request: Request, item_id: ItemId, csrf_token: FormStr = "", view: FormStr = "list") -> Response:
    return _act(
        request,
        item_id,
        view,
        csrf_token,
        lambda s, agent: queue.claim(session=s, item_id=item_id, agent=agent, lease_seconds=900),
        "Claimed: it is yours for 15 minutes.",
    )


@router.post("/queue/{item_id}/release")
def release(request: Request, item_id: ItemId, csrf_token: FormStr = "", view: FormStr = "list") -> Response:
    return _act(
        request,
        item_id,
        view,
        csrf_token,
        lambda s, agent: queue.release(session=s, item_id=item_id, agent=agent),
        "Released: the ticket is back in the open queue.",
    )


@router.post("/queue/{item_id}/resolve")
def resolve(
    request: Request,
    item_id: ItemId,
    form: FeedbackFormDep,
    csrf_token: FormStr = "",
    view: FormStr = "list",
    outcome: FormStr = "",
) -> Response:
    chosen: Outcome | None = _choice(outcome, get_args(Outcome))
    if chosen is None:
        return _message(request, "Choose an outcome: resolved, escalated or not needed.", 422)
    try:
        feedback = feedback_from_form(form, required=False)
    except ValueError as exc:
        return _message(request, str(exc), 422)
    return _act(
        request,
        item_id,
        view,
        csrf_token,
        lambda s, agent: queue.resolve(
            session=s, item_id=item_id, agent=agent, outcome=chosen, feedback=feedback
        ),
        "Resolved" + (", with your feedback." if feedback else "."),
    )


@router.post("/queue/{item_id}/feedback")
def feedback(
    request: Request,
    item_id: ItemId,
    form: FeedbackFormDep,
    csrf_token: FormStr = "",
    view: FormStr = "detail",
) -> Response:
    try:
        body = feedback_from_form(form, required=True)
    except ValueError as exc:
        return _message(request, str(exc), 422)
    assert body is not None

    def give(session: Session, agent: str) -> QueueItemOut:
        queue.item_feedback(session=session, item_id=item_id, body=body, agent=agent)
        return queue.get_item(session=session, item_id=item_id)

    # The detail page lists the feedback given: reload it rather than patch two places.
    response = _act(request, item_id, view, csrf_token, give, "Thank you: your feedback is recorded.")
    if response.status_code == 200 and view == "detail":
        return redirect(request, f"/queue/{item_id}")
    return response
