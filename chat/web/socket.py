"""The websocket endpoint ``GET /api/v1/ws``: handshake, hello, resume, the read loop.

Handshake: a browser authenticates with its session cookie and must send an
allowed ``Origin``; a bot or script sends ``Authorization: Bearer <token>``.
One read, before the socket is accepted, gives the newest event id ``X``, then
the credential's user as they are now (role) and their conversations. A bad
credential (401), a foreign origin (403) or too many connections (429) is
refused before the socket is accepted. Then:

1. the connection is attached to the hub, with the credential it was opened
   with (session or token), live delivery *held*. An event after ``X`` that
   ends the credential closes the socket at attach or when it arrives (4001,
   4003);
2. ``hello`` with ``last_event_id = X``; the events committed between that
   read and the attach are replayed from the log, then live delivery is
   released (anything already replayed is dropped), so nothing falls between.
   When no event reached the hub since just before the read (the usual case),
   there is nothing to replay and the log is not read again
   (``Hub.nothing_since``);
3. frames are read one at a time. Before each one the hub is asked, from
   memory, whether the socket may still act and with which role
   (``Hub.current_role``): a frame read after its credential ended is refused
   (not handled; the close frame is on its way), and a role change applies to
   the very next frame (see ``chat.realtime.hub`` for why rights are re-read
   rather than the socket closed). Then: parse (error frame on bad input), and
   the frame's handler from the one table ``chat.web.socket_handlers.HANDLERS``
   (every type, ``ping``, ``resume`` and ``typing`` included): one domain call,
   ack. ``resume {after}`` holds live delivery, replays the log after ``after``
   page by page, answers ``resumed``, and releases. ``typing`` goes out at most
   once per 2 s per connection, conversation and topic; the excess is acked and
   dropped (``chat.realtime.ephemeral``).

Liveness is the websocket protocol's own ping/pong: uvicorn pings every
``heartbeat_s`` and drops a peer that does not answer (``server_config`` in
``chat.app``), and every client library answers pings by itself. So a client
that only reads stays connected for as long as it likes; the ``ping`` frame is
optional (an application-level round trip for clients that want one).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace
from datetime import UTC
from typing import Any, cast

from starlette.responses import JSONResponse
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketState

from chat.accounts.credentials import session_tag
from chat.channels.feed import latest_event_id
from chat.channels.queries import conversation_ids_of
from chat.domain.actors import Actor, Role
from chat.errors import ChatError
from chat.realtime.credentials import Credential
from chat.realtime.ephemeral import TypingThrottle
from chat.realtime.frames import presence_entry, presence_frame
from chat.realtime.resumable import ResumableConnection
from chat.web import protocol
from chat.web.auth import Auth, allowed_origins, authenticate, client_address
from chat.web.errors import error_body
from chat.web.socket_handlers import HANDLERS, FrameContext, replay
from chat.web.state import Services, services

log = logging.getLogger(__name__)


async def _deny(ws: WebSocket, status: int, code: str, message: str) -> None:
    await ws.send_denial_response(JSONResponse(error_body(code, message), status_code=status))


class _Endpoint:
    """The route's ASGI app (an object, so Starlette hands it ``send`` itself): a
    :class:`WebSocket` for the handshake, the read loop and the close, and the ASGI ``send``
    callable for the connection's writer, which hands it each prebuilt message as it is,
    skipping ``WebSocket.send_text`` and its state checks per frame. That is enough: the
    writer starts after ``accept`` and every way of closing stops it before the close frame
    (``chat.realtime.connection``); a client that vanished makes ``send`` raise, which closes
    that connection alone."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _handshake(WebSocket(scope, receive=receive, send=send), send)


websocket_endpoint = _Endpoint()


async def _handshake(ws: WebSocket, send: Send) -> None:
    svc = services(ws)
    settings = svc.settings
    origin = ws.headers.get("origin")
    bearer = "authorization" in ws.headers
    if (origin is not None or not bearer) and (origin is None or _origin_key(origin) not in allowed_origins(ws)):
        await _deny(ws, 403, "origin_not_allowed", "browsers must connect from an allowed origin")
        return
    hub = svc.hub
    mark = hub.event_mark  # before the snapshot: Hub.nothing_since(mark) says no event came since
    async with svc.db.read() as session:
        # One snapshot for the whole handshake. as_of first: an event that ends the credential
        # after it is caught by the hub at attach (Hub.attach), one before it by the lookup that
        # follows (on PostgreSQL each statement has its own snapshot, so the order matters).
        as_of = await latest_event_id(session)
        auth = await authenticate(ws, session)
        conversations = await conversation_ids_of(session, auth.actor.id) if auth is not None else []
    if auth is None:
        await _deny(ws, 401, "not_authenticated", "log in or send an API token")
        return
    actor = auth.actor
    address = client_address(ws)
    per_user, per_address = svc.ws_per_user, svc.ws_per_address
    if settings.ws_max_per_user and per_user.get(actor.id, 0) >= settings.ws_max_per_user:
        await _deny(ws, 429, "too_many_connections", "too many open connections for this account")
        return
    if settings.ws_max_per_address and per_address.get(address, 0) >= settings.ws_max_per_address:
        await _deny(ws, 429, "too_many_connections", "too many open connections from this address")
        return
    # Take both slots before the next await, so handshakes racing each other cannot all pass the checks.
    _count(per_user, actor.id, +1)
    _count(per_address, address, +1)
    try:
        await ws.accept()
        await _serve(ws, send, svc, auth, _Snapshot(mark, as_of, conversations))
    finally:
        _count(per_user, actor.id, -1)
        _count(per_address, address, -1)


def _count(counts: dict[Any, int], key: object, change: int) -> None:
    counts[key] = counts.get(key, 0) + change
    if counts[key] <= 0:
        del counts[key]


def _origin_key(origin: str) -> str:
    from chat.web.auth import _normal_origin

    return _normal_origin(origin)


@dataclass(frozen=True)
class _Snapshot:
    """What the handshake read in one snapshot, for attaching the connection to the hub."""

    mark: int  # the hub's event mark before the read
    as_of: int  # the newest event id the read saw (hello's last_event_id)
    conversations: list[int]  # the user's memberships then


def _credential(auth: Auth) -> Credential:
    """The credential the hub tracks for a socket opened with ``auth`` (it closes it when that ends)."""
    if auth.token_id is not None:
        return Credential(token=auth.token_id)
    expires_at = auth.expires_at
    expiry = None if expires_at is None else (expires_at if expires_at.tzinfo else expires_at.replace(tzinfo=UTC))
    session_id = auth.session_id or ""
    return Credential(session=session_tag(session_id), expires_at=None if expiry is None else expiry.timestamp())


async def _serve(ws: WebSocket, send: Send, svc: Services, auth: Auth, snapshot: _Snapshot) -> None:
    settings, hub = svc.settings, svc.hub
    actor = auth.actor

    async def close(code: int, reason: str) -> None:
        if ws.application_state != WebSocketState.DISCONNECTED and ws.client_state != WebSocketState.DISCONNECTED:
            await ws.close(code, reason)

    conn = ResumableConnection(send, close, queue_size=settings.ws_queue_size, label=f"user {actor.id}")
    as_of = snapshot.as_of
    async with conn:
        conn.hold()
        attached = hub.attach(
            conn,
            user_id=actor.id,
            role=actor.role,
            conversation_ids=snapshot.conversations,
            as_of=as_of,
            credential=_credential(auth),
        )
        if not attached:
            return
        conn.send_now(protocol.hello(_user_json(actor), as_of, settings.heartbeat_s))
        peers = hub.online_peers(actor.id)
        if peers:  # one snapshot frame: one frame per peer would fill the queue of a big team
            conn.send_now(presence_frame({u: presence_entry(u, True) for u in peers}))
        # the usual case: no event reached the hub since before the read, so none is held and
        # none committed in between can be missed (Hub.nothing_since): no replay, no second read
        last = as_of if hub.nothing_since(snapshot.mark) else await replay(svc, conn, actor, as_of)
        conn.release(last)
        await _read_loop(ws, svc, conn, actor)


async def _read_loop(ws: WebSocket, svc: Services, conn: ResumableConnection, actor: Actor) -> None:
    settings, hub = svc.settings, svc.hub
    typing = TypingThrottle()
    closing: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    conn.add_close_callback(lambda _conn: None if closing.done() else closing.set_result(None))
    while not conn.closed:
        message = await _next_message(ws, closing)
        if message is None:
            return
        if message["type"] == "websocket.disconnect":
            conn.peer_closed(message.get("code", 1000))
            return
        role = hub.current_role(conn)
        if role is None:  # the credential ended (or the socket is closing): refuse what is in flight
            return
        if role != actor.role:
            actor = replace(actor, role=cast(Role, role))
        raw = message.get("text")
        if raw is None:
            raw = message.get("bytes") or b""
        if _size(raw) > settings.ws_max_frame_bytes:
            conn.send_now(
                protocol.error(
                    None,
                    ChatError("frame_too_large", f"a frame may be at most {settings.ws_max_frame_bytes} bytes"),
                )
            )
            continue
        try:
            frame = protocol.parse_frame(raw)
        except protocol.FrameError as exc:
            conn.send_now(protocol.error(exc.frame_id, exc.error))
            continue
        try:
            fields = await HANDLERS[frame.type](FrameContext(svc, conn, actor, frame.id, typing), frame.command)
        except ChatError as exc:
            conn.send_now(protocol.error(frame.id, exc))
            continue
        except Exception:
            log.exception("websocket frame %s failed", frame.type)
            conn.send_now(protocol.error(frame.id, ChatError("internal_error", "the server failed; it is logged")))
            continue
        if fields is not None:
            conn.send_now(protocol.ack(frame.id, **fields))


async def _next_message(ws: WebSocket, closing: asyncio.Future[None]) -> Message | None:
    """The client's next message, or None once the server closes the connection (as a slow
    consumer, say: its close frame may wait behind a full buffer, but this socket is done and its
    connection slots are freed now). A silent client may wait forever: liveness is the
    transport's ping/pong, and a peer that stops answering it arrives here as a disconnect."""
    receiving: asyncio.Future[Message] = asyncio.ensure_future(ws.receive())
    waiting: set[asyncio.Future[Any]] = {receiving, closing}
    done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    if receiving in done:
        return receiving.result()
    receiving.cancel()
    return None


def _size(raw: str | bytes) -> int:
    """A frame's size in bytes: the limit is in bytes, and a text frame arrives decoded."""
    if isinstance(raw, bytes) or raw.isascii():
        return len(raw)
    return len(raw.encode())


def _user_json(actor: Actor) -> dict[str, Any]:
    return {
        "id": actor.id,
        "username": actor.username,
        "display_name": actor.display_name,
        "role": actor.role,
        "is_bot": actor.is_bot,
    }
