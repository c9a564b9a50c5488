"""Browsers' push subscriptions: parse the ``PushSubscription`` JSON, store, list and remove them.

A subscription is the browser's ``PushSubscription.toJSON()``: ``endpoint`` (the push
service URL, checked by ``chat.push.endpoints``), ``keys.p256dh`` (the browser's P-256
public key) and ``keys.auth`` (16 random bytes), both base64url. Everything is checked here,
before anything is stored; a bad field is a 422 naming it.

An endpoint belongs to one user: subscribing it again updates its keys. A browser that another
account signs in to moves it to that account (the old owner's pushes would otherwise land on
someone else's screen), but only with the keys stored for it: that browser holds them, someone
who merely learnt the endpoint does not (409 ``push_endpoint_taken``, nothing changes). Actions
never commit: the caller owns the transaction.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from chat.domain.actors import Actor
from chat.errors import Conflict, Invalid, NotFound
from chat.push.endpoints import parse_endpoint
from chat.store import models
from chat.validation import check_chars, limits

MAX_ENDPOINT = 1000  # the column's size; real endpoints are 150-500 characters
MAX_PER_USER = 20  # devices of one account: phones, laptops, a few browsers each
MAX_USER_AGENT = 255
_B64URL = re.compile(r"[A-Za-z0-9_-]+={0,2}")
P256DH_BYTES = 65  # an uncompressed P-256 point: 0x04, x, y
AUTH_BYTES = 16


@dataclass(frozen=True)
class PushKeys:
    """The browser's keys for this subscription, base64url."""

    p256dh: str = field(metadata=limits(max_len=100, description="the browser's P-256 public key (65 bytes)"))
    auth: str = field(metadata=limits(max_len=40, description="the authentication secret (16 bytes)"))


@dataclass(frozen=True)
class Subscribe:
    """A browser's ``PushSubscription.toJSON()``."""

    endpoint: str = field(metadata=limits(max_len=MAX_ENDPOINT, description="the push service URL (https)"))
    keys: PushKeys
    expirationTime: int | None = None  # the Push API's own name; ignored


@dataclass(frozen=True)
class Unsubscribe:
    endpoint: str = field(metadata=limits(max_len=MAX_ENDPOINT))


@dataclass(frozen=True)
class PushDevice:
    """One of your subscribed browsers, as the settings page lists them."""

    id: int
    endpoint: str
    user_agent: str
    created_at: datetime
    last_used_at: datetime | None


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Invalid("invalid_body", f"{what} must be a JSON object")
    return value


def _only(value: dict[str, Any], allowed: tuple[str, ...], prefix: str = "") -> None:
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise Invalid("unknown_field", f"unknown field: {prefix}{unknown[0]}", field=prefix + unknown[0])


def _text(value: dict[str, Any], name: str, max_len: int, prefix: str = "") -> str:
    where = prefix + name
    if name not in value:
        raise Invalid("missing_field", f"{where} is required", field=where)
    text = value[name]
    if not isinstance(text, str):
        raise Invalid("wrong_type", f"{where} must be a string", field=where)
    if not text:
        raise Invalid("empty", f"{where} must not be empty", field=where)
    if len(text) > max_len:
        raise Invalid("too_long", f"{where} is longer than {max_len} characters", field=where, limit=max_len)
    return check_chars(where, text)


def b64url_bytes(text: str, where: str) -> bytes:
    """Decode base64url (padding optional); 422 ``bad_format`` for anything else."""
    if not _B64URL.fullmatch(text):
        raise Invalid("bad_format", f"{where} must be base64url", field=where)
    bare = text.rstrip("=")
    try:
        return base64.urlsafe_b64decode(bare + "=" * (-len(bare) % 4))
    except (binascii.Error, ValueError):
        raise Invalid("bad_format", f"{where} must be base64url", field=where) from None


def parse_subscribe(value: Any, *, allow_insecure: bool) -> Subscribe:
    """The request body as a :class:`Subscribe`, every field checked (the endpoint's address is
    checked by ``chat.push.endpoints.check_endpoint``, which resolves names: call it too)."""
    body = _object(value, "the request body")
    _only(body, ("endpoint", "keys", "expirationTime"))
    endpoint = _text(body, "endpoint", MAX_ENDPOINT)
    parse_endpoint(endpoint, allow_insecure=allow_insecure)
    expiry = body.get("expirationTime")
    if expiry is not None and (not isinstance(expiry, int) or isinstance(expiry, bool)):
        raise Invalid("wrong_type", "expirationTime must be an integer or null", field="expirationTime")
    if "keys" not in body:
        raise Invalid("missing_field", "keys is required", field="keys")
    keys = body["keys"]
    if not isinstance(keys, dict):
        raise Invalid("wrong_type", "keys must be an object", field="keys")
    _only(keys, ("p256dh", "auth"), "keys.")
    p256dh = _text(keys, "p256dh", 100, "keys.")
    auth = _text(keys, "auth", 40, "keys.")
    point = b64url_bytes(p256dh, "keys.p256dh")
    if len(point) != P256DH_BYTES:
        raise Invalid("bad_push_key", f"keys.p256dh must be {P256DH_BYTES} bytes", field="keys.p256dh")
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError:
        raise Invalid("bad_push_key", "keys.p256dh is not a point of the P-256 curve", field="keys.p256dh") from None
    if len(b64url_bytes(auth, "keys.auth")) != AUTH_BYTES:
        raise Invalid("bad_push_key", f"keys.auth must be {AUTH_BYTES} bytes", field="keys.auth")
    return Subscribe(endpoint=endpoint, keys=PushKeys(p256dh=p256dh.rstrip("="), auth=auth.rstrip("=")))


def parse_unsubscribe(value: Any) -> Unsubscribe:
    body = _object(value, "the request body")
    _only(body, ("endpoint",))
    return Unsubscribe(endpoint=_text(body, "endpoint", MAX_ENDPOINT))


def _same_keys(row: models.PushSubscription, keys: PushKeys) -> bool:
    """True when ``keys`` are the ones stored for ``row`` (compared as bytes, in constant time)."""
    stored = b64url_bytes(row.p256dh, "keys.p256dh") + b64url_bytes(row.auth, "keys.auth")
    given = b64url_bytes(keys.p256dh, "keys.p256dh") + b64url_bytes(keys.auth, "keys.auth")
    return hmac.compare_digest(stored, given)


def _device(row: models.PushSubscription) -> PushDevice:
    return PushDevice(row.id, row.endpoint, row.user_agent, row.created_at, row.last_used_at)


async def subscribe(session: AsyncSession, actor: Actor, cmd: Subscribe, user_agent: str) -> tuple[PushDevice, bool]:
    """Store ``cmd`` for ``actor`` (True) or update the subscription with that endpoint (False):
    its keys, and its owner when another account had it and ``cmd`` carries the keys stored for it
    (else 409 ``push_endpoint_taken``). 409 ``push_subscription_limit`` when the account already
    has :data:`MAX_PER_USER` other devices."""
    agent = check_chars("user_agent", user_agent)[:MAX_USER_AGENT]
    row = await session.scalar(
        select(models.PushSubscription).where(models.PushSubscription.endpoint == cmd.endpoint).with_for_update()
    )
    if row is not None and row.user_id != actor.id and not _same_keys(row, cmd.keys):
        raise _taken()
    if row is None or row.user_id != actor.id:
        count = await session.scalar(
            select(func.count()).select_from(models.PushSubscription).where(models.PushSubscription.user_id == actor.id)
        )
        if (count or 0) >= MAX_PER_USER:
            raise Conflict(
                "push_subscription_limit",
                f"an account has at most {MAX_PER_USER} push subscriptions: remove one in the settings",
                limit=MAX_PER_USER,
            )
    if row is None:
        row = models.PushSubscription(
            user_id=actor.id,
            endpoint=cmd.endpoint,
            p256dh=cmd.keys.p256dh,
            auth=cmd.keys.auth,
            user_agent=agent,
            created_at=models.utcnow(),
        )
        try:
            async with session.begin_nested():  # the same browser subscribing twice at once: one insert wins
                session.add(row)
                await session.flush()
            return _device(row), True
        except IntegrityError:
            row = await session.scalar(
                select(models.PushSubscription).where(models.PushSubscription.endpoint == cmd.endpoint)
            )
            if row is None:  # pragma: no cover - the row that won was deleted in between
                raise
            if row.user_id != actor.id and not _same_keys(row, cmd.keys):
                raise _taken() from None
    row.user_id = actor.id
    row.p256dh = cmd.keys.p256dh
    row.auth = cmd.keys.auth
    row.user_agent = agent
    await session.flush()
    return _device(row), False


def _taken() -> Conflict:
    return Conflict(
        "push_endpoint_taken",
        "this endpoint is subscribed by another account, with other keys",
        field="endpoint",
    )


async def unsubscribe(session: AsyncSession, actor: Actor, cmd: Unsubscribe) -> None:
    """Remove ``actor``'s subscription with that endpoint; 404 when ``actor`` has none (another
    account's endpoint included: nobody learns whose it is)."""
    table = models.PushSubscription
    gone = await session.execute(
        delete(table).where(table.endpoint == cmd.endpoint, table.user_id == actor.id).returning(table.id)
    )
    if gone.first() is None:
        raise NotFound("not_found", "you have no push subscription with this endpoint")


async def list_devices(session: AsyncSession, actor: Actor) -> list[PushDevice]:
    rows = await session.scalars(
        select(models.PushSubscription)
        .where(models.PushSubscription.user_id == actor.id)
        .order_by(models.PushSubscription.created_at, models.PushSubscription.id)
    )
    return [_device(row) for row in rows]


# --- the sender's side: what to send to, and what the push service said -------------------------


@dataclass(frozen=True)
class Target:
    """One subscription as the sender needs it."""

    id: int
    endpoint: str
    p256dh: str
    auth: str


async def targets_of(session: AsyncSession, user_id: int) -> list[Target]:
    table = models.PushSubscription
    rows = await session.execute(
        select(table.id, table.endpoint, table.p256dh, table.auth).where(table.user_id == user_id).order_by(table.id)
    )
    return [Target(*row) for row in rows]


async def mark_used(session: AsyncSession, ids: list[int]) -> None:
    if ids:
        table = models.PushSubscription
        await session.execute(update(table).where(table.id.in_(ids)).values(last_used_at=models.utcnow()))


async def drop_expired(session: AsyncSession, gone: list[Target]) -> None:
    """Delete subscriptions the push service answered 404/410 for, unless the browser subscribed
    again meanwhile (the same row then holds new keys)."""
    table = models.PushSubscription
    for target in gone:
        await session.execute(
            delete(table).where(table.id == target.id, table.endpoint == target.endpoint, table.p256dh == target.p256dh)
        )
