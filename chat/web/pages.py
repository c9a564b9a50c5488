"""HTML pages of the chat UI: the app shell, login, registration, first-run setup, settings, logout.

Pages are thin: they find out who is asking, pick a language and render a
Jinja2 template (autoescaped). Everything that changes state goes through the
REST API or the websocket from the page's JavaScript, except two plain forms
handled here: ``POST /logout`` and ``POST /settings/language``. Those, like
every cookie-authenticated request, are refused unless they come from this
origin (``Origin`` / ``Sec-Fetch-Site``): that is the CSRF protection, the
same rule ``chat.web.auth`` applies to the API.

The login, registration and setup forms post to the API from JavaScript
(``static/js/auth-page.js``); without JavaScript they post here and get the
page back with a message saying that Salon needs JavaScript.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from chat.accounts.sessions import end_session
from chat.accounts.users import has_users
from chat.domain.actors import Actor
from chat.errors import ChatError
from chat.store import workspace
from chat.web import i18n
from chat.web.auth import Auth, authenticate, check_origin, clear_session_cookie
from chat.web.state import services

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
_LANG_COOKIE_DAYS = 365


@functools.cache
def environment() -> Environment:
    """The Jinja2 environment (read-only, shared): autoescape on for every template."""
    return Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )


# --- who is asking ------------------------------------------------------------------


async def page_actor(request: Request) -> Auth | None:
    """The signed-in user (``chat.web.auth``), or None when signed out."""
    return await authenticate(request)


async def is_fresh_install(request: Request) -> bool:
    """True while no account exists: the first visitor is asked to create the admin."""
    async with services(request).db.read() as session:
        return not await has_users(session)


def language(request: Request) -> str:
    return i18n.negotiate(request.headers.get("accept-language"), request.cookies.get(i18n.LANG_COOKIE))


def is_same_origin(request: Request) -> bool:
    """The CSRF rule of ``chat.web.auth.check_origin`` for the form posts handled here."""
    try:
        check_origin(request)
    except ChatError:
        return False
    return True


def safe_next(target: str | None) -> str:
    """A local path to go to after signing in; anything else (another host, ``//x``, ``\\x``) becomes ``/``."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    return target


# --- rendering ----------------------------------------------------------------------


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    lang = context.pop("lang", None) or language(request)
    tr = i18n.Translator(lang)
    page = environment().get_template(template)
    html = page.render(
        request=request, lang=tr.lang, _=tr, i18n_catalog=tr.catalog, settings=services(request).settings, **context
    )
    response = HTMLResponse(html, status_code=status)
    response.headers["cache-control"] = "no-store"
    response.headers["vary"] = "Cookie, Accept-Language"
    return response


def user_json(actor: Actor) -> dict[str, Any]:
    return {
        "id": actor.id,
        "username": actor.username,
        "display_name": actor.display_name,
        "role": actor.role,
        "is_bot": actor.is_bot,
    }


def to_login(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='/')}", status_code=303)


# --- pages --------------------------------------------------------------------------


async def app_shell(request: Request) -> Response:
    """``/``: the chat UI for a signed-in user; otherwise the login page (or setup on a fresh install)."""
    auth = await page_actor(request)
    if auth is None:
        if await is_fresh_install(request):
            return RedirectResponse("/setup", status_code=303)
        return to_login(request)
    actor = auth.actor
    boot = {"user": user_json(actor), "ws_path": "/api/v1/ws", "api": "/api/v1", "lang": language(request)}
    return render(request, "app.html", boot=boot, user=actor)


async def login_page(request: Request) -> Response:
    if await is_fresh_install(request):
        return RedirectResponse("/setup", status_code=303)
    if await page_actor(request) is not None:
        return RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
    return render(request, "login.html", next=safe_next(request.query_params.get("next")), error=None)


async def register_page(request: Request) -> Response:
    if await is_fresh_install(request):
        return RedirectResponse("/setup", status_code=303)
    invite = request.query_params.get("invite", "")[:128]
    return render(request, "register.html", mode=await registration_mode(request), invite=invite, error=None)


async def registration_mode(request: Request) -> str:
    """The registration mode in force (an admin changes it in the workspace settings)."""
    svc = services(request)
    async with svc.db.read() as session:
        return (await workspace.load(session, svc.settings)).registration_mode


async def setup_page(request: Request) -> Response:
    """First run: the first person creates the administrator account. Gone once any account exists.

    A server others can reach asks for the setup token too (``Services.setup_token``);
    the address ``chat serve`` prints carries it as ``?token=``, which fills the field in.
    """
    if not await is_fresh_install(request):
        return RedirectResponse("/login", status_code=303)
    needs_token = services(request).setup_token is not None
    token = request.query_params.get("token", "")[:128] if needs_token else ""
    return render(request, "setup.html", error=None, needs_token=needs_token, token=token)


async def settings_page(request: Request) -> Response:
    auth = await page_actor(request)
    if auth is None:
        return to_login(request)
    actor = auth.actor
    boot = {"user": user_json(actor), "api": "/api/v1", "lang": language(request)}
    saved = request.query_params.get("saved") == "language"
    return render(request, "settings.html", boot=boot, user=actor, languages=i18n.SUPPORTED, saved=saved)


async def needs_javascript(request: Request) -> Response:
    """A login/registration/setup form posted without JavaScript: say so, change nothing."""
    if not is_same_origin(request):
        return forbidden(request)
    template = {"/login": "login.html", "/register": "register.html", "/setup": "setup.html"}[request.url.path]
    svc = services(request)
    return render(
        request,
        template,
        status=400,
        error="auth.needs_js",
        next="/",
        mode=await registration_mode(request),
        invite="",
        needs_token=svc.setup_token is not None,
        token="",
    )


async def logout(request: Request) -> Response:
    """``POST /logout`` (a form on every page): end the session, forget the cookie, back to the login page."""
    if not is_same_origin(request):
        return forbidden(request)
    auth = await page_actor(request)
    if auth is not None and auth.via == "session":
        async with services(request).db.transaction() as session:
            await end_session(session, auth.actor, auth.session_id)
    response = RedirectResponse("/login", status_code=303)
    clear_session_cookie(response, request)
    return response


async def set_language(request: Request) -> Response:
    """``POST /settings/language`` (form field ``lang``: ``en``, ``fr`` or ``auto``): kept in a cookie."""
    if not is_same_origin(request):
        return forbidden(request)
    form = await request.form(max_files=0, max_fields=4)
    value = form.get("lang")
    chosen = i18n.supported(value) if isinstance(value, str) else None
    response = RedirectResponse("/settings?saved=language", status_code=303)
    secure = request.url.scheme == "https"
    if chosen is None:
        response.delete_cookie(i18n.LANG_COOKIE, path="/", samesite="lax", secure=secure)
    else:
        response.set_cookie(
            i18n.LANG_COOKIE, chosen, max_age=_LANG_COOKIE_DAYS * 86400, path="/", samesite="lax", secure=secure
        )
    return response


def forbidden(request: Request) -> Response:
    return render(request, "error.html", status=403, code="cross_site_request", message_key="error.cross_site")


routes: list[BaseRoute] = [
    Route("/", app_shell, methods=["GET"], name="app"),
    Route("/login", login_page, methods=["GET"], name="login"),
    Route("/register", register_page, methods=["GET"], name="register"),
    Route("/setup", setup_page, methods=["GET"], name="setup"),
    Route("/login", needs_javascript, methods=["POST"]),
    Route("/register", needs_javascript, methods=["POST"]),
    Route("/setup", needs_javascript, methods=["POST"]),
    Route("/logout", logout, methods=["POST"], name="logout"),
    Route("/settings", settings_page, methods=["GET"], name="settings"),
    Route("/settings/language", set_language, methods=["POST"], name="set_language"),
]
