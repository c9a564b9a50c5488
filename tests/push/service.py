"""A real push service for the tests, and a browser's side of a subscription.

``PushSender.notify`` returns once every push service has answered (or timed out), so what
a service received is all there is to see when it returns: no waiting in the tests.

``PushService`` is a small aiohttp server on 127.0.0.1 (a free port, in the test's own event
loop) that keeps every POST it receives and answers with the status the test chose for that
path (201 by default). It checks nothing itself: the tests verify the VAPID token and decrypt
the body, as a browser vendor's push service and the browser would.

``BrowserKeys`` is what a browser makes when it subscribes: a P-256 key pair and a 16-byte
auth secret; it decrypts what the push service would hand it (``http_ece``, aes128gcm).
"""

from __future__ import annotations

import asyncio
import base64
import os
from dataclasses import dataclass, field
from typing import Any

import http_ece  # type: ignore[import-untyped]
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import jwt  # type: ignore[import-untyped]


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes


@dataclass
class PushService:
    """``async with PushService() as service``: ``service.endpoint("a")`` is a URL on it."""

    statuses: dict[str, int] = field(default_factory=dict)  # path -> status (else 201)
    redirects: dict[str, str] = field(default_factory=dict)  # path -> Location (answered with 307)
    hang: set[str] = field(default_factory=set)  # paths that never answer
    received: list[Received] = field(default_factory=list)
    port: int = 0
    _runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.received.append(Received(request.path, {k.lower(): v for k, v in request.headers.items()}, body))
        if request.path in self.hang:
            await asyncio.sleep(3600)
        if request.path in self.redirects:
            return web.Response(status=307, headers={"Location": self.redirects[request.path]})
        return web.Response(status=self.statuses.get(request.path, 201))

    async def __aenter__(self) -> PushService:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def endpoint(self, name: str) -> str:
        return f"{self.origin}/push/{name}"


@dataclass
class BrowserKeys:
    """The keys a browser makes for one subscription."""

    private: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    auth: bytes = field(default_factory=lambda: os.urandom(16))

    @property
    def p256dh(self) -> str:
        raw = self.private.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return b64url(raw)

    def subscription(self, endpoint: str) -> dict[str, Any]:
        """What ``PushSubscription.toJSON()`` gives in a browser."""
        keys = {"p256dh": self.p256dh, "auth": b64url(self.auth)}
        return {"endpoint": endpoint, "expirationTime": None, "keys": keys}

    def decrypt(self, body: bytes) -> bytes:
        plain: bytes = http_ece.decrypt(body, private_key=self.private, auth_secret=self.auth, version="aes128gcm")
        return plain


def vapid_claims(authorization: str, public_key: str) -> dict[str, Any]:
    """Verify ``Authorization: vapid t=<JWT>,k=<key>`` (RFC 8292): ``k`` is ``public_key`` and the
    JWT's ES256 signature checks out with it. Returns the JWT's claims; raises otherwise."""
    scheme, _, params = authorization.partition(" ")
    assert scheme == "vapid", authorization
    parts = dict(item.strip().split("=", 1) for item in params.split(","))
    assert parts["k"] == public_key
    claims: dict[str, Any] = jwt.decode(parts["t"], parts["k"])  # raises InvalidSignature on a bad signature
    header = jwt.b64urldecode(parts["t"].split(".")[0].encode())
    assert b'"alg":"ES256"' in header
    return claims
