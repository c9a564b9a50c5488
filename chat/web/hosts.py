"""Which ``Host`` this server answers to (DNS rebinding): a pure ASGI middleware, outermost but for the headers.

A page on ``http://attacker.example:8000`` whose name the attacker re-points at this server's address
(DNS rebinding) talks to Salon from the attacker's own origin: its ``Origin`` matches its ``Host``, so
the CSRF and websocket Origin checks (``chat.web.auth``), which compare the two when
``CHAT_PUBLIC_ORIGIN`` is unset, let it through, and on a fresh install it could create the
administrator. The browser always sends the attacker's name in ``Host``; refusing names this server
does not answer to closes that door. Like Django's ``ALLOWED_HOSTS``, every request and websocket
handshake for another name is refused, reads included: ``400`` with the JSON error
``host_not_allowed`` (a websocket handshake gets the same response, or close code 1008 from a server
without the denial-response extension).

Allowed, with or without a port:

* loopback: ``localhost`` and names under ``.localhost``, ``127.0.0.0/8``, ``::1``;
* any IP address literal (``192.0.2.10``, ``[2001:db8::1]``): a browser sends one only when the user
  typed that address, never for a rebound name, so a server reached by its address needs no setting;
* the host of ``settings.public_origin``;
* each name of ``settings.allowed_hosts``, exactly, or with a leading dot (``.example.com``) that name
  and every name under it.

A request without a ``Host`` header (HTTP/1.0) is refused too. Lifespan and other scopes pass through.
"""

from __future__ import annotations

import ipaddress
import json
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from chat.config import Settings

_BODY = json.dumps(
    {
        "error": {
            "code": "host_not_allowed",
            "message": "this server does not answer to that host name; its operator can add it to CHAT_ALLOWED_HOSTS",
        }
    }
).encode()
_HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(_BODY)).encode())]


def host_name(host_header: str) -> str:
    """The name of a ``Host`` header, lower-case, without port, brackets or trailing dot ("" if malformed)."""
    if any(char in host_header for char in "@/\\?#"):
        return ""  # userinfo or a path: no browser sends that
    try:
        name = urlsplit(f"//{host_header.strip()}").hostname
    except ValueError:
        return ""
    return (name or "").rstrip(".")


def is_loopback(name: str) -> bool:
    """``localhost``, a name under ``.localhost``, or a loopback address (``host_name`` form or an address)."""
    if name == "localhost" or name.endswith(".localhost"):
        return True
    address = _ip(name)
    return address is not None and address.is_loopback


def _ip(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return None


def reachable_by_others(settings: Settings) -> bool:
    """Whether this server listens on a non-loopback address or has a non-loopback public origin."""
    public = host_name(urlsplit(settings.public_origin).netloc) if settings.public_origin else ""
    return not is_loopback(settings.host) or (bool(public) and not is_loopback(public))


def required_setup_token(settings: Settings, made: str) -> str | None:
    """What the first account needs (``chat.accounts.registration.register``'s ``setup_token``);
    ``chat.app.create_app`` asks once, into ``Services.setup_token``.

    None on a loopback server: the first visitor sets it up. Otherwise ``made``, the token ``chat serve``
    printed, or "" when none was made (an app built without ``chat serve``): then only
    ``chat create-admin`` can create the first account.
    """
    if not reachable_by_others(settings):
        return None
    return made


class AllowedHosts:
    """The names of :mod:`chat.web.hosts`'s rule, from the settings."""

    def __init__(self, settings: Settings) -> None:
        names = [name.strip().lower().rstrip(".") for name in settings.allowed_hosts if name.strip()]
        if settings.public_origin:
            names.append(urlsplit(settings.public_origin).hostname or "")
        self.exact = frozenset(name for name in names if name and not name.startswith("."))
        self.suffixes = tuple(name for name in names if name.startswith(".") and len(name) > 1)

    def allows(self, host_header: str) -> bool:
        name = host_name(host_header)
        if not name:
            return False
        if is_loopback(name) or _ip(name) is not None or name in self.exact:
            return True
        return any(name == suffix[1:] or name.endswith(suffix) for suffix in self.suffixes)


class HostCheckMiddleware:
    """Refuse HTTP requests and websocket handshakes whose ``Host`` is not allowed (module docstring)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.hosts = AllowedHosts(settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or self.hosts.allows(_header(scope, b"host")):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 400, "headers": _HEADERS})
            await send({"type": "http.response.body", "body": _BODY})
            return
        await receive()  # websocket.connect
        if "websocket.http.response" in scope.get("extensions", {}):
            await send({"type": "websocket.http.response.start", "status": 400, "headers": _HEADERS})
            await send({"type": "websocket.http.response.body", "body": _BODY})
        else:
            await send({"type": "websocket.close", "code": 1008, "reason": "host not allowed"})


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return ""
