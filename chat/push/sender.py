"""Delivery: one :class:`~chat.push.notice.PushNotice` to every browser a user subscribed.

``PushSender.notify`` is the notifier's ``PushTo`` (``chat.push.notice``). For each of the
user's subscriptions, in parallel:

1. check the endpoint again (``chat.push.endpoints``: https on a public address; the HTTP
   client also connects only to public addresses, so DNS that changed since is no way in);
2. encrypt the payload for that browser (RFC 8291, ``aes128gcm``, with pywebpush's
   ``WebPusher.encode``) and sign a VAPID token for the endpoint's origin, on a thread;
3. POST it with aiohttp: ``TTL`` one day, ``Urgency`` high for mentions and direct messages,
   a ``Topic`` so a newer notice of the conversation replaces a pending one, a timeout, and
   no redirects followed;
4. 2xx: the subscription's ``last_used_at`` is updated; 404/410: the browser unsubscribed,
   the subscription is deleted; anything else is logged.

Nothing here raises to the caller: a push is a courtesy, and a failure of one browser or of
the push service is logged and never stops the notifier (like the hub's publish).
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass

import aiohttp
from pywebpush import WebPusher  # type: ignore[import-untyped]

from chat.config import Settings
from chat.errors import ChatError
from chat.push.endpoints import PublicResolver, check_endpoint
from chat.push.notice import PushNotice
from chat.push.subscriptions import Target, drop_expired, mark_used, targets_of
from chat.push.vapid import VapidKey, load_key
from chat.store.db import Database

log = logging.getLogger(__name__)

TTL_S = 24 * 3600  # a phone that is off for a day still gets the notice when it is back
TIMEOUT_S = 10.0
_TOPIC = re.compile(r"[A-Za-z0-9_-]{1,32}")  # RFC 8030 Topic: base64url, at most 32 characters


@dataclass(frozen=True)
class Outcome:
    """What one POST to a push service came to: delivered, gone (404/410) or failed."""

    target: Target
    status: int | None  # None: no answer (refused endpoint, timeout, connection error)

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def gone(self) -> bool:
        return self.status in (404, 410)


def encrypt(target: Target, payload: bytes) -> bytes:
    """``payload`` encrypted for ``target``'s browser (``aes128gcm``: salt and key id in the body)."""
    info = {"endpoint": target.endpoint, "keys": {"p256dh": target.p256dh, "auth": target.auth}}
    body: bytes = WebPusher(info).encode(payload, "aes128gcm")["body"]
    return body


def request_headers(key: VapidKey, target: Target, notice: PushNotice) -> dict[str, str]:
    headers = {
        "Authorization": key.authorization(target.endpoint),
        "Content-Encoding": "aes128gcm",
        "Content-Type": "application/octet-stream",
        "TTL": str(TTL_S),
        "Urgency": "high" if notice.urgent else "normal",
    }
    if _TOPIC.fullmatch(notice.tag):
        headers["Topic"] = notice.tag
    return headers


class PushSender:
    """Sends push notices for one server (one per app; the key is loaded once, on first use)."""

    def __init__(self, db: Database, settings: Settings, *, timeout_s: float = TIMEOUT_S) -> None:
        self.db = db
        self.settings = settings
        self.timeout_s = timeout_s
        self._key: VapidKey | None = None
        self._key_lock = asyncio.Lock()

    async def key(self) -> VapidKey:
        """The VAPID key pair, made and stored in the database by the first process that needs it."""
        if self._key is None:
            async with self._key_lock:
                if self._key is None:
                    self._key = await load_key(self.db, self.settings)
        return self._key

    async def prepare(self) -> None:
        """Load (on a server's very first start: make) the key at startup; a database that is
        down then is logged, not raised (the server starts anyway; the key loads on first use)."""
        try:
            await self.key()
        except Exception:
            log.warning("push: the VAPID key could not be loaded at startup; it will be on first use", exc_info=True)

    async def notify(self, user_id: int, notice: PushNotice) -> None:
        """Push ``notice`` to every subscription of ``user_id``; never raises."""
        try:
            await self._notify(user_id, notice)
        except Exception:
            log.exception("push to user %s failed", user_id)

    async def _notify(self, user_id: int, notice: PushNotice) -> None:
        async with self.db.read() as session:
            targets = await targets_of(session, user_id)
        if not targets:
            return
        key = await self.key()
        payload = notice.payload()
        insecure = self.settings.push_allow_insecure_endpoints
        connector = aiohttp.TCPConnector(resolver=None if insecure else PublicResolver(), limit_per_host=4)
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout, trust_env=False) as http:
            outcomes = await asyncio.gather(*(self._send(http, key, t, notice, payload) for t in targets))
        delivered = [o.target.id for o in outcomes if o.delivered]
        gone = [o.target for o in outcomes if o.gone]
        if delivered or gone:
            async with self.db.transaction() as session:
                await mark_used(session, delivered)
                await drop_expired(session, gone)

    async def _send(
        self, http: aiohttp.ClientSession, key: VapidKey, target: Target, notice: PushNotice, payload: bytes
    ) -> Outcome:
        try:
            await check_endpoint(target.endpoint, allow_insecure=self.settings.push_allow_insecure_endpoints)
            body, headers = await asyncio.to_thread(self._prepare, key, target, notice, payload)
            async with http.post(target.endpoint, data=body, headers=headers, allow_redirects=False) as response:
                status = response.status  # the body is never read: nothing in it matters
        except ChatError as exc:
            log.warning("push subscription %s not sent: %s", target.id, exc.message)
            return Outcome(target, None)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            log.warning("push subscription %s: push service unreachable: %r", target.id, exc)
            return Outcome(target, None)
        except Exception:  # a key or token this browser's endpoint cannot take: this one only fails
            log.exception("push subscription %s not sent", target.id)
            return Outcome(target, None)
        outcome = Outcome(target, status)
        if not outcome.delivered and not outcome.gone:
            log.warning("push subscription %s: push service answered %s", target.id, status)
        return outcome

    @staticmethod
    def _prepare(key: VapidKey, target: Target, notice: PushNotice, payload: bytes) -> tuple[bytes, dict[str, str]]:
        return encrypt(target, payload), request_headers(key, target, notice)
