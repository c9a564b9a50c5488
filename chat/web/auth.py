"""Who is calling: a session cookie or a bearer token becomes an ``Actor``; CSRF for cookie requests.

Authentication (cached on ``request.state.auth`` for the request):

* ``Authorization: Bearer salon_…``: an API token (users and bots). When the
  header is present the cookie is ignored; a malformed, unknown or revoked
  token authenticates nobody (401 on routes that need an actor).
* Otherwise the ``salon_session`` cookie: a server-side session that has not
  expired. Inactive (deactivated) users are refused either way.

CSRF (cookie-authenticated requests only; bearer requests are exempt because a
browser never attaches that header cross-site on its own): for an unsafe
method (POST, PUT, PATCH, DELETE) the request is refused with 403
``csrf_failed`` when ``Sec-Fetch-Site`` is ``cross-site``, or when an ``Origin``
header is present and is neither the server's own origin
(``settings.public_origin``, or the request's scheme and host) nor one of
``settings.allowed_origins``. Browsers send ``Origin`` on every cross-origin
POST, so a forged form or fetch is refused; non-browser clients send neither
header and pass. Login and registration, which have no session yet, call
:func:`check_origin` themselves (login CSRF). The session cookie is also
``SameSite=Lax``, a second line of defence.

A token's ``last_used_at`` is written after authentication when the stored one
is older than ``tokens.USE_RECORDED_EVERY`` (at most one small write per token
per interval); a failure to write it is logged, never raised.

Rate limiters live in ``services(request).limiters``, built from the settings
by ``chat.app.create_app``.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection
from starlette.responses import Response

from chat.accounts.sessions import COOKIE_NAME, MAX_SECRET_CHARS, ClientInfo, live_session, session_id_of
from chat.accounts.tokens import record_token_use, token_actor, use_worth_recording
from chat.channels import policy
from chat.domain.actors import Actor
from chat.errors import Forbidden, Unauthorized
from chat.store.models import utcnow
from chat.web.state import services

log = logging.getLogger(__name__)

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Auth:
    """How the actor of this request was authenticated: ``session_id`` is set for cookie
    sessions, ``token_id`` for API tokens (an open websocket is closed when either ends)."""

    actor: Actor
    via: Literal["session", "token"]
    session_id: str | None = None
    token_id: int | None = None
    expires_at: datetime | None = None  # a cookie session's end
    token_used_at: datetime | None = None  # an API token's recorded last use


async def authenticate(conn: HTTPConnection, session: AsyncSession | None = None) -> Auth | None:
    """The request's authentication, looked up once per request (raises 403 ``csrf_failed``).

    ``session``: read it there (the websocket handshake reads everything it needs in one
    snapshot); otherwise in a read session of its own.
    """
    cached = getattr(conn.state, "auth", False)
    if cached is None or isinstance(cached, Auth):
        return cached
    if "authorization" not in conn.headers and COOKIE_NAME not in conn.cookies:
        auth = None  # nothing to look up
    elif session is None:
        async with services(conn).db.read() as own:
            auth = await _lookup(conn, own)
    else:
        auth = await _lookup(conn, session)
    if auth is not None and auth.via == "session" and _is_unsafe(conn):
        check_origin(conn)
    conn.state.auth = auth
    if auth is not None and auth.token_id is not None and use_worth_recording(auth.token_used_at, utcnow()):
        await _record_use(conn, auth.token_id)
    return auth


async def _record_use(conn: HTTPConnection, token_id: int) -> None:
    try:
        await services(conn).db.write(functools.partial(record_token_use, token_id=token_id))
    except Exception:  # bookkeeping: the request goes on without it
        log.warning("could not record the use of token %s", token_id, exc_info=True)


async def _lookup(conn: HTTPConnection, session: AsyncSession) -> Auth | None:
    header = conn.headers.get("authorization")
    if header is not None:
        scheme, _, raw = header.partition(" ")
        if scheme.lower() != "bearer" or not raw.strip():
            return None
        found_token = await token_actor(session, raw.strip())
        if found_token is None:
            return None
        return Auth(found_token.actor, "token", token_id=found_token.token_id, token_used_at=found_token.last_used_at)
    secret = conn.cookies.get(COOKIE_NAME)
    if not secret or len(secret) > MAX_SECRET_CHARS:
        return None
    sid = session_id_of(secret)
    found = await live_session(session, sid)
    if found is None:
        return None
    actor, expires_at = found
    return Auth(actor, "session", sid, expires_at=expires_at)


async def current_actor(conn: HTTPConnection) -> Actor | None:
    auth = await authenticate(conn)
    return auth.actor if auth is not None else None


async def require_actor(conn: HTTPConnection) -> Actor:
    """The authenticated actor, or 401 ``not_authenticated``."""
    actor = await current_actor(conn)
    if actor is None:
        raise Unauthorized("not_authenticated", "log in or send an API token")
    return actor


async def require_admin(conn: HTTPConnection) -> Actor:
    """An actor who may manage users (``policy.can_manage_users``), else 403 ``admin_required``."""
    actor = await require_actor(conn)
    if not policy.can_manage_users(actor):
        raise Forbidden("admin_required", "only administrators may do this")
    return actor


def _is_unsafe(conn: HTTPConnection) -> bool:
    return conn.scope.get("type") == "http" and conn.scope.get("method", "GET") in UNSAFE_METHODS


def check_origin(conn: HTTPConnection) -> None:
    """Refuse a cross-site browser request (403 ``csrf_failed``); see the module docstring."""
    if conn.headers.get("sec-fetch-site", "").lower() == "cross-site":
        raise Forbidden("csrf_failed", "cross-site requests are refused")
    origin = conn.headers.get("origin")
    if origin is None:
        return
    if _normal_origin(origin) not in allowed_origins(conn):
        raise Forbidden("csrf_failed", "the request's Origin is not this server")


def check_download_origin(conn: HTTPConnection) -> None:
    """A GET that writes to the log (an export, a personal-data download) started with a cookie:
    refused when another site started it, as a form post would be. Bearer requests are exempt."""
    if "authorization" not in conn.headers:
        check_origin(conn)


def own_origin(conn: HTTPConnection) -> str:
    """This server's origin: ``settings.public_origin``, else the request's scheme and host."""
    public = services(conn).settings.public_origin
    if public:
        return _normal_origin(public)
    scheme = {"ws": "http", "wss": "https"}.get(conn.url.scheme, conn.url.scheme)
    return _normal_origin(f"{scheme}://{conn.url.netloc}")


def allowed_origins(conn: HTTPConnection) -> set[str]:
    return {own_origin(conn), *(_normal_origin(o) for o in services(conn).settings.allowed_origins)}


def _normal_origin(origin: str) -> str:
    try:  # urlsplit refuses e.g. "http://[" and .port a port beyond 65535: such origins match nothing
        parts = urlsplit(origin.strip().lower())
        port = parts.port
    except ValueError:
        return origin
    if not parts.scheme or not parts.hostname:
        return origin  # "null" and other opaque origins match nothing we allow
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    if port is None or port == _DEFAULT_PORTS.get(parts.scheme):
        return f"{parts.scheme}://{host}"
    return f"{parts.scheme}://{host}:{port}"


def client_info(conn: HTTPConnection) -> ClientInfo:
    """The client's address (set from X-Forwarded-For by uvicorn's proxy headers) and user agent."""
    return ClientInfo(address=client_address(conn), user_agent=conn.headers.get("user-agent", ""))


def client_address(conn: HTTPConnection) -> str:
    return conn.client.host if conn.client is not None else "unknown"


def set_session_cookie(response: Response, conn: HTTPConnection, secret: str) -> None:
    """``salon_session``: HttpOnly, SameSite=Lax, Path=/, Secure over https, Max-Age = session_days."""
    response.set_cookie(
        COOKIE_NAME,
        secret,
        max_age=services(conn).settings.session_days * 86400,
        path="/",
        secure=conn.url.scheme in ("https", "wss"),
        httponly=True,
        samesite="lax",
    )


def clear_session_cookie(response: Response, conn: HTTPConnection) -> None:
    response.delete_cookie(
        COOKIE_NAME, path="/", secure=conn.url.scheme in ("https", "wss"), httponly=True, samesite="lax"
    )
