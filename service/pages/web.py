"""The plumbing of the agents' page: templates, cookies, the signed-in session and CSRF checks.

Pages are plain ``def`` routes (they read the database). A page that needs a session and has
none redirects to ``/login`` (for an htmx request: ``HX-Redirect``). Every change sends the
session's CSRF token, as the ``X-CSRF-Token`` header that htmx adds from ``<body hx-headers>`` or
as a ``csrf_token`` form field; the session cookie is HttpOnly and SameSite=Lax on top of that.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from service.access.service import Role
from service.access.sessions import PageSession, find_session
from service.errors import StorageDisabledError
from service.pages import render
from service.tickets.service import TicketStore

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
HTMX = "/static/htmx-2.0.11.min.js"
SESSION_COOKIE = "triage_session"
LOGIN_COOKIE = "triage_login_csrf"
# The page's own scripts and styles only: no inline script, no third-party origin.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

templates = Jinja2Templates(directory=HERE / "templates")
templates.env.globals.update(
    highlight=render.highlight,
    waiting=render.waiting,
    badges=render.badges,
    held_by=render.held_by,
    dimensions=render.DIMENSIONS,
    htmx=HTMX,
)


class SignInRequiredError(Exception):
    """No live session: send the browser to the sign-in page."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


def store_of(request: Request) -> TicketStore:
    store: TicketStore | None = getattr(request.app.state, "store", None)
    if store is None:
        raise StorageDisabledError("storage is off (TRIAGE_STORAGE=false): there is no queue")
    return store


def keys_required(request: Request) -> bool:
    return getattr(request.app.state, "keys", None) is not None


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def current_session(request: Request) -> PageSession | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token or len(token) > 100:
        return None
    with store_of(request).sessions() as session:
        return find_session(session=session, token=token, keys_required=keys_required(request))


class PageForbiddenError(Exception):
    """Signed in, but with a role this page is not for."""

    def __init__(self, page: PageSession, message: str) -> None:
        super().__init__(message)
        self.page = page
        self.message = message


def signed_in(request: Request, roles: tuple[Role, ...] = ("agent",)) -> PageSession:
    """The live session of a role the page is for (ops may see every page); otherwise a
    redirect to the sign-in page, or a 403 page."""
    page = current_session(request)
    if page is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequiredError(target)
    if not page.principal.may(roles):
        raise PageForbiddenError(
            page, f"This page is for the {' or '.join(roles)} role; you signed in as {page.principal.role}."
        )
    return page


def safe_next(target: str | None) -> str:
    """Only a path on this site: an open redirect would let a link send agents elsewhere."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/queue"
    return target


def csrf_ok(request: Request, page: PageSession, form_token: str | None) -> bool:
    return page.csrf_matches(request.headers.get("x-csrf-token") or form_token)


def html(
    request: Request,
    template: str,
    context: dict[str, Any],
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    context = {"now": datetime.now(UTC), **context}
    response = templates.TemplateResponse(
        request, template, context, status_code=status_code, headers=headers
    )
    response.headers.update(SECURITY_HEADERS)
    return response


def redirect(request: Request, url: str) -> Response:
    if is_htmx(request):
        return Response(status_code=200, headers={"HX-Redirect": url, **SECURITY_HEADERS})
    return RedirectResponse(url, status_code=303, headers=SECURITY_HEADERS)


def set_session_cookie(request: Request, response: Response, token: str, max_age: int) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )


def install_page_handlers(app: FastAPI) -> None:
    @app.exception_handler(PageForbiddenError)
    async def _forbidden(request: Request, exc: PageForbiddenError) -> Response:
        return html(request, "notice.html", {"page": exc.page, "message": exc.message}, 403)

    @app.exception_handler(SignInRequiredError)
    async def _sign_in(request: Request, exc: SignInRequiredError) -> Response:
        return redirect(request, f"/login?next={quote(exc.next_url, safe='/')}")
