"""What every page handler gets and returns: the signed-in user, their API client, rendering,
form posts checked for CSRF, redirects with a one-time message, and errors as pages.

A handler is ``async def handler(ui: Ui) -> Response`` wrapped by ``page`` (GET) or
``action`` (POST: the form is read and its CSRF token checked before the handler runs).
``ApiError`` raised by a handler becomes an error page with the API's own message and status.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from jinja2 import Environment
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from tidegate.http.auth import client_address
from tidegate.http.ui import session
from tidegate.http.ui.client import ApiClient, ApiError, Credentials


@dataclass(frozen=True, slots=True)
class UiConfig:
    inner: ASGIApp  # the whole registry app (``/api/v1`` and ``/v2``), called in-process
    templates: Environment
    session_hours: int
    registry_host: str | None  # for pull commands; None: the request's Host


@dataclass(slots=True)
class Ui:
    """One request of a signed-in user."""

    request: Request
    config: UiConfig
    api: ApiClient
    credentials: Credentials
    me: dict[str, Any]
    form: FormData | None = None
    flash: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def is_admin(self) -> bool:
        return bool(self.me.get("is_admin"))

    @property
    def registry_host(self) -> str:
        return self.config.registry_host or self.request.headers.get("host", "localhost:5000")

    def field(self, name: str, default: str = "") -> str:
        value = self.form.get(name) if self.form is not None else None
        return value.strip() if isinstance(value, str) else default

    def fields(self, name: str) -> list[str]:
        if self.form is None:
            return []
        return [v.strip() for v in self.form.getlist(name) if isinstance(v, str) and v.strip()]

    def query(self, name: str, default: str = "") -> str:
        return self.request.query_params.get(name, default)

    def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        return render(self.config, self.request, template, status, ui=self, **context)


def render(
    config: UiConfig, request: Request, template: str, status: int = 200, **context: Any
) -> HTMLResponse:
    ui = context.get("ui")
    page_context = {
        "request": request,
        "me": ui.me if ui else None,
        "csrf": session.csrf_token(ui.credentials) if ui else "",
        "flash": ui.flash if ui else None,
        **context,
    }
    html = config.templates.get_template(template).render(page_context)
    response = HTMLResponse(html, status_code=status)
    response.headers.update(SECURITY_HEADERS)
    if ui is not None and ui.flash is not None:
        session.clear_cookie(request, response, session.FLASH_COOKIE)
    return response


def redirect(ui: Ui, path: str, flash: str | None = None) -> Response:
    """303 to ``path`` (a UI path), with a message shown once on the next page."""
    response = RedirectResponse(path, status_code=303)
    if flash:
        session.set_cookie(ui.request, response, session.FLASH_COOKIE, quote(flash[:300]), 60)
    return response


# what ``/ui/login?m=CODE`` may say: a fixed set, so a link cannot put its own text there
LOGIN_MESSAGES = {
    "signed-out": "You have signed out.",
    "expired": "Your session has ended; please sign in again.",
    "service-account": "Service accounts cannot sign in here; use the API or the CLI.",
    "password-changed": "Your password was changed; sign in with the new one.",
}


def return_to(request: Request) -> str:
    """Where signing in leads back to: this page, or for a form post (which cannot be
    repeated as a GET) the page the form was on, when that is a page of this UI."""
    if request.method in ("GET", "HEAD"):
        return request.url.path + (f"?{request.url.query}" if request.url.query else "")
    referer = urlsplit(request.headers.get("referer", ""))
    host = request.headers.get("host", "")
    if referer.netloc == host and (referer.path == "/ui" or referer.path.startswith("/ui/")):
        return referer.path + (f"?{referer.query}" if referer.query else "")
    return "/ui/"


def to_login(request: Request, code: str | None = None) -> Response:
    url = "/ui/login?next=" + quote(return_to(request), safe="")
    if code in LOGIN_MESSAGES:
        url += "&m=" + code
    return RedirectResponse(url, status_code=303)


MAX_DIGITS = 18  # below 2**63: more digits is no sensible count, id or number of days


def whole_number(text: str, what: str, *, maximum: int) -> int:
    """``text`` (a form field, query or path segment) as a whole number from 0 to ``maximum``;
    otherwise ApiError 400 naming ``what``. The length is checked before ``int()``, which
    refuses texts of thousands of digits with an exception."""
    text = text.strip()
    if not text.isascii() or not text.isdigit() or len(text) > MAX_DIGITS:
        raise ApiError(400, "INVALID_REQUEST", f"{what}: a whole number from 0 to {maximum}")
    number = int(text)
    if number > maximum:
        raise ApiError(400, "INVALID_REQUEST", f"{what}: a whole number from 0 to {maximum}")
    return number


def number_param(ui: Ui, name: str, what: str) -> int:
    """A path segment that names a record by its number (a webhook, a trash entry)."""
    return whole_number(str(ui.request.path_params[name]), what, maximum=10**MAX_DIGITS - 1)


FORM_ERRORS = (400, 409, 422)  # a refused form comes back with the message and what was typed


def seg(value: str) -> str:
    """One path segment of an API or UI URL."""
    return quote(value, safe="")


def param(ui: Ui, name: str) -> str:
    return str(ui.request.path_params[name])


def refusal(exc: ApiError, also: tuple[int, ...] = ()) -> str:
    """The message of a refusal the form is shown again for; other errors go on up."""
    if exc.status not in FORM_ERRORS + also:
        raise exc
    return exc.message


Handler = Callable[[Ui], Awaitable[Response]]

SECURITY_HEADERS = {
    "cache-control": "no-store",
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}


async def _load(request: Request, config: UiConfig) -> Ui | Response:
    credentials = session.decode_session(request.cookies.get(session.COOKIE))
    if credentials is None:
        return to_login(request)
    api = ApiClient(config.inner, client_address(request), credentials)
    try:
        me = await api.get("/me")
    except ApiError as exc:
        if exc.status in (401, 403):  # expired or revoked session, or a disabled account
            response = to_login(request, "expired")
            session.clear_cookie(request, response, session.COOKIE)
            return response
        raise
    if me.get("kind") != "user":  # a service account's token in a hand-made cookie
        response = to_login(request, "service-account")
        session.clear_cookie(request, response, session.COOKIE)
        return response
    flash = request.cookies.get(session.FLASH_COOKIE)
    return Ui(request, config, api, credentials, me, flash=unquote(flash) if flash else None)


def error_page(ui: Ui, exc: ApiError) -> HTMLResponse:
    status = exc.status if 400 <= exc.status < 600 else 500
    return ui.render("error.html", status=status, error=exc)


HTTP_MESSAGES = {
    404: "There is no such page.",
    405: "This address does not take that kind of request (a form's address opened as a page?).",
}


def http_error_page(config: UiConfig, request: Request, exc: HTTPException) -> HTMLResponse:
    """Starlette's own refusals inside ``/ui`` (no such page, wrong method, a form it cannot
    read) as the error page, not as plain text; nobody needs to be signed in to see it."""
    status = exc.status_code if 400 <= exc.status_code < 600 else 500
    message = HTTP_MESSAGES.get(status, str(exc.detail))
    response = render(config, request, "error.html", status, error=ApiError(status, "", message))
    if exc.headers:
        response.headers.update({k: v for k, v in exc.headers.items() if k.lower() == "allow"})
    return response


async def _serve(
    request: Request, config: UiConfig, handler: Handler, admin: bool, is_form: bool
) -> Response:
    """Load the signed-in user; for a form, read it and check its CSRF token; refuse a
    non-admin where ``admin``; run ``handler``, its API errors as the error page."""
    loaded = await _load(request, config)
    if isinstance(loaded, Response):
        return loaded
    ui = loaded
    if is_form:
        ui.form = await request.form(max_files=0, max_fields=200)
        try:
            session.check_csrf(request, ui.credentials, ui.form.get("csrf"))
        except session.CsrfRefused as exc:
            return error_page(ui, ApiError(403, "DENIED", str(exc)))
    if admin and not ui.is_admin:
        return error_page(ui, ApiError(403, "DENIED", "this page is for administrators"))
    try:
        return await handler(ui)
    except ApiError as exc:
        return error_page(ui, exc)


def page(config: UiConfig, handler: Handler, *, admin: bool = False) -> Callable[..., Any]:
    async def endpoint(request: Request) -> Response:
        return await _serve(request, config, handler, admin, is_form=False)

    return endpoint


def action(config: UiConfig, handler: Handler, *, admin: bool = False) -> Callable[..., Any]:
    """A form post: refused with 403 unless it carries this session's CSRF token."""

    async def endpoint(request: Request) -> Response:
        return await _serve(request, config, handler, admin, is_form=True)

    return endpoint


RouteMaker = Callable[[str, Handler], Route]


def route_makers(config: UiConfig, *, admin: bool = False) -> tuple[RouteMaker, RouteMaker]:
    """``get(path, handler)`` for pages and ``post(path, handler)`` for forms."""

    def get(path: str, handler: Handler) -> Route:
        return Route(path, page(config, handler, admin=admin), methods=["GET"])

    def post(path: str, handler: Handler) -> Route:
        return Route(path, action(config, handler, admin=admin), methods=["POST"])

    return get, post
