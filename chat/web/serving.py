"""The HTTP protocol Salon runs under uvicorn: a deadline for request headers and a connection cap.

uvicorn closes idle keep-alive connections (``timeout_keep_alive``), but nothing bounds a fresh
connection that sends nothing, or a request whose headers trickle in a byte at a time (slowloris): each
holds a socket for as long as the client likes. And uvicorn's ``limit_concurrency`` refuses plain
requests but not websocket upgrades, which are handed to the websocket protocol before its check. This
module owns both bounds, in the protocol object uvicorn creates for every accepted connection:

* **Header deadline.** The request line and headers must be complete within ``header_timeout_s`` of the
  connection opening, and of the first byte of each later request on a kept-alive connection; otherwise
  the client gets ``408`` (JSON error ``header_timeout``) and the connection is closed. Bodies and
  websocket frames are not covered: the app reads bodies with size limits, websockets have ping/pong.
* **Connection cap.** Every open connection counts, HTTP (idle keep-alive ones too) and websocket alike:
  uvicorn's ``server_state.connections``. A request or websocket handshake that arrives while more than
  ``max_connections`` connections are open, itself included, is answered ``503`` (JSON error
  ``too_many_connections``, ``Retry-After``, ``Connection: close``) and its connection closed, so the
  open connections that are served never exceed the cap.

Both responses carry the security headers of :mod:`chat.web.security`, like every other response.

The protocol is pinned to httptools, uvicorn's own choice whenever it is installed (``uvicorn[standard]``
installs it; the lock pins it): its parser callbacks mark exactly where a request begins
(``on_message_begin``) and where its headers end (``on_headers_complete``), so the deadline needs no
guessing from partial input. h11 offers no "request begun" event; supporting both would mean two
implementations of the same bound for no gain to the operator.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from chat.web.security import SECURITY_HEADERS

_RETRY_AFTER_S = 5


def _response(status: int, reason: str, code: str, message: str, *extra: tuple[str, str]) -> bytes:
    """A complete HTTP/1.1 response with a JSON error body that closes the connection."""
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    headers = [
        ("content-type", "application/json"),
        ("content-length", str(len(body))),
        ("connection", "close"),
        *extra,
        *SECURITY_HEADERS,
    ]
    head = f"HTTP/1.1 {status} {reason}\r\n" + "".join(f"{name}: {value}\r\n" for name, value in headers)
    return head.encode("latin-1") + b"\r\n" + body


HEADER_TIMEOUT_RESPONSE = _response(
    408, "Request Timeout", "header_timeout", "the request headers did not arrive in time"
)
TOO_MANY_CONNECTIONS_RESPONSE = _response(
    503,
    "Service Unavailable",
    "too_many_connections",
    "the server has too many open connections; try again shortly",
    ("retry-after", str(_RETRY_AFTER_S)),
)


async def _refuse(scope: Any, receive: Any, send: Any) -> None:
    """The ASGI app a request over the cap gets instead of Salon: the 503 above."""
    head, body = TOO_MANY_CONNECTIONS_RESPONSE.split(b"\r\n\r\n", 1)
    headers = [tuple(line.split(b": ", 1)) for line in head.split(b"\r\n")[1:]]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class BoundedHttpProtocol(HttpToolsProtocol):
    """httptools' protocol with the header deadline and the connection cap (see the module docstring)."""

    header_timeout_s: float = 10.0
    max_connections: int = 1000

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limit_concurrency = None  # the cap is ours: it counts websockets too
        self._header_deadline: asyncio.TimerHandle | None = None

    # --- the header deadline -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_deadline()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        self._arm_deadline()  # a kept-alive connection's next request; a fresh one's is armed already
        super().on_message_begin()

    def _arm_deadline(self) -> None:
        if self._header_deadline is None:
            self._header_deadline = self.loop.call_later(self.header_timeout_s, self._headers_too_slow)

    def _disarm_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_too_slow(self) -> None:
        self._header_deadline = None
        if not self.transport.is_closing():
            self.logger.info("closed a connection whose request headers took over %ss", self.header_timeout_s)
            self.transport.write(HEADER_TIMEOUT_RESPONSE)
            self.transport.close()

    # --- the connection cap --------------------------------------------------------------------

    def _over_the_cap(self) -> bool:
        return len(self.connections) > self.max_connections  # this connection is in the set

    def on_headers_complete(self) -> None:
        self._disarm_deadline()
        if not self._over_the_cap():
            super().on_headers_complete()
            return
        self.logger.warning("refused a request: over %d open connections", self.max_connections)
        salon, self.app = self.app, _refuse
        try:
            super().on_headers_complete()  # runs _refuse instead of Salon for this request
        finally:
            self.app = salon

    def handle_websocket_upgrade(self) -> None:
        if self._over_the_cap():
            self.logger.warning("refused a websocket: over %d open connections", self.max_connections)
            self.transport.write(TOO_MANY_CONNECTIONS_RESPONSE)
            self.transport.close()
            return
        super().handle_websocket_upgrade()


def http_protocol(*, header_timeout_s: float, max_connections: int) -> type[BoundedHttpProtocol]:
    """The protocol class for ``uvicorn.Config(http=...)`` with these bounds."""
    return type(
        "SalonHttpProtocol",
        (BoundedHttpProtocol,),
        {"header_timeout_s": header_timeout_s, "max_connections": max_connections},
    )
