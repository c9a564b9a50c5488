"""One-click unsubscribe (RFC 8058): signed links that turn one kind of mail off.

Every notification carries ``List-Unsubscribe: <<origin>/unsubscribe?token=…>`` and
``List-Unsubscribe-Post: List-Unsubscribe=One-Click``. The token names a user and a
kind, ``missed`` (mail about missed messages: ``email_missed``) or ``digest`` (the
daily digest), signed with HMAC-SHA256 under the server secret ``unsubscribe_key``
(``chat.store.secrets``): ``<user>.<kind>.<signature>``. It needs no cookie and no
CSRF token (a mail client posts it with nothing else), and it can do one thing only:
turn that kind of mail off for that user, which anyone holding the mail may do.

:func:`unsubscribe` is the action: it changes ``users.notification_settings`` and
writes ``user.notifications_changed`` (audience: the user) in the caller's
transaction, or changes nothing when that kind is already off.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from chat.accounts import notification_prefs
from chat.domain.events import append_event
from chat.errors import Invalid
from chat.store import models
from chat.store.db import Database
from chat.store.secrets import server_secret

KEY_NAME = "unsubscribe_key"
Kind = Literal["missed", "digest"]
_TOKEN = re.compile(r"(\d{1,19})\.(missed|digest)\.([0-9a-f]{32})")


@dataclass(frozen=True, slots=True)
class Unsubscribed:
    user_id: int
    kind: Kind
    changed: bool


async def unsubscribe_key(db: Database) -> bytes:
    return (await server_secret(db, KEY_NAME)).encode()


def _signature(key: bytes, user_id: int, kind: str) -> str:
    return hmac.new(key, f"unsubscribe:{user_id}:{kind}".encode(), hashlib.sha256).hexdigest()[:32]


def make_token(key: bytes, user_id: int, kind: Kind) -> str:
    return f"{user_id}.{kind}.{_signature(key, user_id, kind)}"


def unsubscribe_link(base: str, key: bytes, user_id: int, kind: Kind) -> str:
    return f"{base}/unsubscribe?token={make_token(key, user_id, kind)}"


def read_token(key: bytes, token: str) -> tuple[int, Kind]:
    """The user and kind a token names; ``Invalid("bad_unsubscribe_token")`` if it is not ours."""
    match = _TOKEN.fullmatch(token or "")
    if match is None or not hmac.compare_digest(match.group(3), _signature(key, int(match.group(1)), match.group(2))):
        raise Invalid("bad_unsubscribe_token", "this unsubscribe link is not valid")
    kind: Kind = "missed" if match.group(2) == "missed" else "digest"
    return int(match.group(1)), kind


def is_subscribed(prefs: notification_prefs.Prefs, kind: Kind) -> bool:
    return prefs.email_missed if kind == "missed" else prefs.digest_mode != "off"


async def unsubscribe(session: AsyncSession, user_id: int, kind: Kind) -> Unsubscribed:
    """Turn ``kind`` off for ``user_id`` (an event when it changed). A user that is gone: ``Invalid``."""
    user = await session.get(models.User, user_id, with_for_update=True)
    if user is None:
        raise Invalid("bad_unsubscribe_token", "this unsubscribe link is not valid")
    prefs = notification_prefs.load(user.notification_settings)
    if not is_subscribed(prefs, kind):
        return Unsubscribed(user_id, kind, changed=False)
    patch: dict[str, object] = {"email_missed": False} if kind == "missed" else {"digest": {"mode": "off"}}
    stored = notification_prefs.apply_patch(user.notification_settings, patch, now=models.utcnow())
    user.notification_settings = stored
    await session.flush()
    await append_event(
        session,
        kind="user.notifications_changed",
        actor_id=user_id,
        subject_id=user_id,
        audience="subject",
        data={"user_id": user_id, "notifications": stored, "via": f"unsubscribe:{kind}"},
    )
    return Unsubscribed(user_id, kind, changed=True)
