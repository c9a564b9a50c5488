"""The server's VAPID key pair (RFC 8292): who signs every push this server sends.

The private key is made on first use and kept in ``server_secrets`` (``chat.store.secrets``),
so every process of one server signs with the same key and browsers' subscriptions, made
with its public key as ``applicationServerKey``, survive restarts and load balancers.

This module owns the key and the ``Authorization: vapid t=…,k=…`` header (a JWT, ES256,
signed by py_vapid); it never sends anything (``chat.push.sender`` does).
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from email.utils import parseaddr
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02  # type: ignore[import-untyped]

from chat.config import Settings
from chat.store.db import Database
from chat.store.secrets import server_secret

SECRET_NAME = "vapid_private_key"  # noqa: S105 - a row name, not a secret; the value: base64url of the 32-byte P-256 private value
TOKEN_LIFETIME_S = 12 * 3600  # RFC 8292: at most 24 hours; push services refuse a longer one


def b64url(raw: bytes) -> str:
    """Base64url without padding, as the Push API and JWTs write keys."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def make_private_key() -> str:
    """A new P-256 private key, as stored in ``server_secrets``."""
    key = ec.generate_private_key(ec.SECP256R1())
    return b64url(key.private_numbers().private_value.to_bytes(32, "big"))


@dataclass(frozen=True)
class VapidKey:
    """The loaded key pair and the ``sub`` claim every token carries."""

    vapid: Vapid02
    subject: str

    @classmethod
    def from_secret(cls, secret: str, subject: str) -> VapidKey:
        return cls(Vapid02.from_raw(secret.encode("ascii")), subject)

    @property
    def public_key(self) -> str:
        """The uncompressed public point, base64url: the browser's ``applicationServerKey``."""
        public: ec.EllipticCurvePublicKey = self.vapid.public_key
        return b64url(public.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint))

    def authorization(self, endpoint: str, now: float | None = None) -> str:
        """The ``Authorization`` header for a push to ``endpoint``: audience is the endpoint's origin."""
        parts = urlsplit(endpoint)
        claims = {
            "aud": f"{parts.scheme}://{parts.netloc}",
            "exp": int(time.time() if now is None else now) + TOKEN_LIFETIME_S,
            "sub": self.subject,
        }
        header: str = self.vapid.sign(claims)["Authorization"]
        return header


def subject(settings: Settings) -> str:
    """The ``sub`` claim: how a push service reaches whoever runs this server.

    ``mailto:`` the address of ``CHAT_MAIL_FROM``; else the public origin's ``https://host``
    (without a port: push services and py_vapid want a bare origin); else
    ``mailto:salon@<mail domain, or the public origin's host, or localhost>``.
    """
    address = parseaddr(settings.mail_from)[1] if settings.mail_from else ""
    if "@" in address:
        return f"mailto:{address}"
    origin = urlsplit(settings.public_origin)
    if origin.scheme == "https" and origin.hostname:
        return f"https://{origin.hostname}"
    return f"mailto:salon@{settings.mail_domain or origin.hostname or 'localhost'}"


async def load_key(db: Database, settings: Settings) -> VapidKey:
    """The server's key pair, made and stored the first time any process asks for it."""
    return VapidKey.from_secret(await server_secret(db, SECRET_NAME, make_private_key), subject(settings))
