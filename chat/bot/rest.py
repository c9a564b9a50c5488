"""URLs of a Salon server, and one blocking JSON call to its REST API (standard library only).

``Bot.api`` runs :func:`call` in a thread, so a handler can look up members or
history without another HTTP dependency.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from chat.bot.errors import BotError

API_PREFIX = "/api/v1"
WS_PATH = API_PREFIX + "/ws"
_WS_SCHEME = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}
_HTTP_SCHEME = {"http": "http", "https": "https", "ws": "http", "wss": "https"}


def _split(url: str) -> tuple[str, str, str]:
    parts = urlsplit(url)
    if parts.scheme not in _WS_SCHEME or not parts.netloc:
        raise ValueError(f"expected a server URL like http://127.0.0.1:8000, got {url!r}")
    path = parts.path.rstrip("/")
    if path.endswith(WS_PATH):
        path = path[: -len(WS_PATH)]
    return parts.scheme, parts.netloc, path


def ws_url_of(url: str) -> str:
    """``http://host:8000`` → ``ws://host:8000/api/v1/ws`` (https → wss; a ws URL is kept)."""
    scheme, netloc, path = _split(url)
    return urlunsplit((_WS_SCHEME[scheme], netloc, path + WS_PATH, "", ""))


def http_url_of(url: str) -> str:
    """The server's base HTTP URL, without a trailing slash: ``ws://host/api/v1/ws`` → ``http://host``."""
    scheme, netloc, path = _split(url)
    return urlunsplit((_HTTP_SCHEME[scheme], netloc, path, "", ""))


def call(base_url: str, token: str, method: str, path: str, body: Any = None, timeout: float = 30.0) -> Any:
    """``METHOD {base_url}/api/v1{path}`` with the bot's token; the decoded JSON answer (None for 204).

    An error answer raises ``BotError`` with the server's code (``{"error": {"code", "message"}}``).
    """
    data = None if body is None else json.dumps(body).encode()
    return _send(base_url, token, method, path, data, "application/json", timeout)


def upload(base_url: str, token: str, data: bytes, name: str, content_type: str, timeout: float = 300.0) -> Any:
    """``POST /api/v1/uploads?name=…`` with the file's bytes as the raw body; the upload's JSON (201)."""
    return _send(base_url, token, "POST", f"/uploads?name={quote(name, safe='')}", data, content_type, timeout)


def _send(
    base_url: str, token: str, method: str, path: str, data: bytes | None, content_type: str, timeout: float
) -> Any:
    if not path.startswith("/"):
        raise ValueError(f"path must start with '/', got {path!r}")
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    if data is not None:
        headers["Content-Type"] = content_type
    url = base_url + API_PREFIX + path  # base_url came from http_url_of: http or https only
    request = urllib.request.Request(url, data=data, headers=headers, method=method.upper())  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - http(s) only, see above
            raw = response.read()
    except urllib.error.HTTPError as exc:
        raise _error_of(exc.code, exc.read()) from None
    except OSError as exc:
        raise BotError("unreachable", f"{method.upper()} {url}: {exc}") from None
    return json.loads(raw) if raw else None


def _error_of(status: int, raw: bytes) -> BotError:
    try:
        error = json.loads(raw)["error"]
        data = {k: v for k, v in error.items() if k not in ("code", "message")}
        return BotError(str(error["code"]), str(error["message"]), status=status, **data)
    except (ValueError, KeyError, TypeError, AttributeError):
        return BotError("http_error", f"HTTP {status}: {raw[:200].decode(errors='replace')}", status=status)
