"""The hub: who is connected, who may see what, and the fan-out.

``hub.publish(events)`` is the after-commit callback of ``Database``. Each event
is serialised **once** into its wire frame (``{"type":"event","event":{…}}``,
compact JSON) and sent through the broker together with its routing facts. Every
hub (this process's and, over Redis, the others') receives it, decides the
recipients from its in-memory routing table, decodes the frame to ``str`` once,
builds one ASGI send message around it (``chat.realtime.connection.text_message``)
and ``put_nowait``s that *same object* into each recipient connection's bounded
queue; each connection's writer hands it as it is to the ASGI ``send``. Nothing
here waits for a socket or asks the database.

Recipients, by ``event.audience``:

* ``members``: the connected members of ``event.conversation``. An event that
  carries ``members`` (membership changes) updates the table *before* delivery,
  and also reaches the members it removed and its ``subject_id``: a removed
  member gets the event that removed them, and nothing after.
* ``everyone``, ``staff``, ``admins``: by role (``ROLE_AUDIENCES``).
* ``subject``: only ``subject_id``.

``user.role_changed`` (new role in ``data["role"]`` or ``data["user"]["role"]``) updates the
subject's role first and reaches them too; ``user.deactivated`` closes their sockets (``4003``).

Credentials: each socket is attached with the :class:`Credential` it was opened with.
``session.logout``, ``token.revoked`` and ``user.password_changed`` close the sockets whose
credential they end with ``4001`` (``chat.realtime.credentials``), on every process. Closing
is synchronous, so the read loop's check before each frame (:meth:`Hub.current_role`, a dict
lookup) refuses every frame read after the event reached this process. A role change closes
nothing (that would cost a reconnect and a replay): the role is re-read before each frame.

The routing table maps conversation → member ids, each conversation tagged with
the id of the newest event that set it. It is seeded by ``load_memberships``
(the ``loader`` at start and after a broker gap) and refreshed for one user by
each ``attach``; both pass ``as_of``, the newest event id their database
snapshot includes, so a snapshot never overrides a membership event the hub has
already applied (a user removed while their socket was being opened stays
removed).

Cursors while live delivery may have missed events (a broker outage, a commit in doubt):
``chat.realtime.horizon``. A commit in doubt (``commit_in_doubt``, from the database) is
told to every process through the broker; each caps its frames and, once the database
answers again, closes its sockets with ``4009`` so that they resume from the log.

Presence: a user is online while they have at least one socket on any server
process; changes are coalesced and flushed at most once per ``presence_coalesce_s``,
one frame per connection (``chat.realtime.ephemeral``, which says who is told what).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Collection, Coroutine, Iterable, Mapping, Sequence
from typing import Any

from chat.domain.events import Event
from chat.realtime.broker import Broker
from chat.realtime.connection import (
    CLOSE_CREDENTIAL_REVOKED,
    CLOSE_DEACTIVATED,
    CLOSE_GOING_AWAY,
    CLOSE_RESYNC,
    Connection,
    WireMessage,
    text_message,
)
from chat.realtime.credentials import REVOKING_KINDS, Credential, Revocations, ends
from chat.realtime.ephemeral import PresenceBatch
from chat.realtime.frames import envelope, event_frame, event_header, presence_entry, presence_frame
from chat.realtime.horizon import Horizon
from chat.realtime.presence import Change, PresenceTable
from chat.realtime.routing import RoutingTable
from chat.validation import encode

log = logging.getLogger(__name__)

STAFF_ROLES = frozenset({"admin", "moderator"})
GUEST_ROLE = "guest"
# the audiences that go by role: who of the connected users receives them
ROLE_AUDIENCES: dict[str, Callable[[str], bool]] = {
    "everyone": lambda role: role != GUEST_ROLE,
    "staff": lambda role: role in STAFF_ROLES,
    "admins": lambda role: role == "admin",
}

# (conversation id -> member ids, newest event id the snapshot includes)
MembershipSnapshot = tuple[Mapping[int, Iterable[int]], int]
MembershipLoader = Callable[[], Awaitable[MembershipSnapshot]]


class Hub:
    def __init__(
        self,
        broker: Broker,
        *,
        loader: MembershipLoader | None = None,
        presence: bool = True,
        presence_interval_s: float = 30.0,
        presence_coalesce_s: float | None = None,  # default: ephemeral.PRESENCE_INTERVAL_S
        node: str | None = None,
    ) -> None:
        self.broker = broker
        self.node = node or uuid.uuid4().hex[:12]  # this process, in presence messages
        self._loader = loader
        self._presence = presence
        self._presence_interval = presence_interval_s
        self._table = RoutingTable()
        self._deactivated: dict[int, int] = {}  # user -> id of the deactivation event
        self._role_events: dict[int, tuple[int, str]] = {}  # user -> (event id, new role)
        self._revocations = Revocations()
        # this process's connections
        self._conns: dict[int, set[Connection]] = {}
        self._user_of: dict[Connection, int] = {}
        self._credential_of: dict[Connection, Credential] = {}
        self._expiry: dict[Connection, asyncio.TimerHandle] = {}
        self._roles: dict[int, str] = {}
        self._online = PresenceTable()  # across processes
        self._batch: PresenceBatch[Connection] = PresenceBatch(presence_coalesce_s)
        self._flush: asyncio.TimerHandle | None = None  # the next presence flush, once one is due
        self._tasks: set[asyncio.Task[None]] = set()
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._subscribed = False
        self._closing = False
        self._horizon = Horizon(probe=loader, settled=self._on_gap)  # a commit in doubt settles as a gap
        self._events_received = 0  # event messages received, for nothing_since()

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Subscribe to the broker, then load the routing table (so no change falls between)."""
        if not self._subscribed:
            self.broker.subscribe(self._on_message, self._on_gap)
            self._subscribed = True
        await self.broker.start()
        await self._reload()
        if self._presence and self._heartbeat_task is None:
            self._heartbeat_task = asyncio.get_running_loop().create_task(self._heartbeat(), name="hub-presence")

    async def close(self) -> None:
        """Close every socket with 1001 (clients resume elsewhere or later), then the broker."""
        self._closing = True
        conns = list(self._user_of)
        for conn in conns:
            conn.close_soon(CLOSE_GOING_AWAY, "server shutting down")
        await asyncio.gather(*(conn.wait_closed() for conn in conns))
        if self._flush is not None:
            self._flush.cancel()
        self._horizon.close()
        if self._heartbeat_task is not None:
            self._heartbeat_task.cancel()
            await asyncio.wait({self._heartbeat_task})
        if self._tasks:  # the last presence messages: they never wait on the network
            await asyncio.wait(self._tasks)
        await self.broker.close()

    # -- routing table ---------------------------------------------------------------------

    def load_memberships(self, memberships: Mapping[int, Iterable[int]], *, as_of: int) -> None:
        """Seed or refresh the whole table from one query: every conversation's member ids,
        as of event id ``as_of``. Conversations changed by a newer event keep what it set."""
        self._table.load(memberships, as_of=as_of)

    def attach(
        self,
        conn: Connection,
        *,
        user_id: int,
        role: str,
        conversation_ids: Collection[int],
        as_of: int,
        credential: Credential | None = None,
    ) -> bool:
        """Register a started connection of ``user_id``, opened with ``credential``.

        ``role``, ``conversation_ids`` (every conversation the user is a member of) and the
        credential's validity come from one database read whose newest event id is ``as_of``
        (the hello frame's ``last_event_id``). Returns False, and closes the socket, if the
        user was deactivated or the credential ended after that snapshot, or the hub is
        shutting down.
        """
        if conn in self._user_of:
            raise ValueError("connection already attached")
        if conn.closed:
            return False
        if self._closing:
            conn.close_soon(CLOSE_GOING_AWAY, "server shutting down")
            return False
        if self._deactivated.get(user_id, 0) > as_of:
            conn.close_soon(CLOSE_DEACTIVATED, "account deactivated")
            return False
        credential = credential or Credential()
        ended = self._revocations.ended_after(user_id, credential, as_of)
        if ended is not None:
            conn.close_soon(CLOSE_CREDENTIAL_REVOKED, ended)
            return False
        newer_role = self._role_events.get(user_id)
        if newer_role is not None and newer_role[0] > as_of:
            role = newer_role[1]
        self._table.reconcile(user_id, set(conversation_ids), as_of)
        first = user_id not in self._conns
        self._conns.setdefault(user_id, set()).add(conn)
        self._user_of[conn] = user_id
        self._credential_of[conn] = credential
        if credential.expires_at is not None:
            delay = max(0.0, credential.expires_at - time.time())
            loop = asyncio.get_running_loop()
            self._expiry[conn] = loop.call_later(delay, conn.close_soon, CLOSE_CREDENTIAL_REVOKED, "session expired")
        self._roles[user_id] = role
        conn.add_close_callback(self.detach)
        if first:
            self._announce(user_id, online=True)
        return True

    def detach(self, conn: Connection) -> None:
        """Forget a connection (called by the connection itself when it closes; idempotent)."""
        user_id = self._user_of.pop(conn, None)
        self._credential_of.pop(conn, None)
        expiry = self._expiry.pop(conn, None)
        if expiry is not None:
            expiry.cancel()
        if user_id is None:
            return
        self._batch.forget(conn)
        conns = self._conns.get(user_id)
        if conns is not None:
            conns.discard(conn)
            if not conns:
                del self._conns[user_id]
                del self._roles[user_id]
                self._announce(user_id, online=False)

    @property
    def event_mark(self) -> int:
        """A mark to take before reading a snapshot of the log (see :meth:`nothing_since`)."""
        return self._events_received

    def nothing_since(self, mark: int) -> bool:
        """Whether no event reached this hub since ``mark``, and none can have been lost (the
        broker is connected and was not out). Then a socket attached now, whose snapshot of the
        log was read after ``mark``, needs no replay: an event its snapshot missed committed
        after the read began and, published after its commit, reaches the socket live."""
        return self._events_received == mark and self.broker.connected and not self._horizon.capped

    @property
    def horizon(self) -> int:
        """The cursor capped event frames carry (``chat.realtime.horizon``)."""
        return self._horizon.newest

    def current_role(self, conn: Connection) -> str | None:
        """The role ``conn``'s user has now, or None once the connection may act no more (its
        credential ended, the account was deactivated, or it is closing). The read loop asks
        before each frame: a dict lookup, no database question."""
        user_id = self._user_of.get(conn)
        if user_id is None or conn.closed:
            return None
        return self._roles.get(user_id)

    def connection_count(self, user_id: int) -> int:
        """Sockets of ``user_id`` on this process (for the per-user connection limit)."""
        return len(self._conns.get(user_id, ()))

    def is_online(self, user_id: int) -> bool:
        return self._online.is_online(user_id) or user_id in self._conns

    def online_peers(self, user_id: int) -> set[int]:
        """Online users who share a conversation with ``user_id``: the presence snapshot
        to send after ``hello`` (changes then arrive as presence frames)."""
        peers: set[int] = set()
        for conv in self._table.conversations_of(user_id):
            peers.update(u for u in self._table.members(conv) if self.is_online(u))
        peers.discard(user_id)
        return peers

    # -- publishing ----------------------------------------------------------------------------

    async def publish(self, events: Sequence[Event]) -> None:
        """The after-commit callback: serialise each event once and send it to every hub."""
        for event in events:
            try:
                payload = envelope(event_header(event), event_frame(event))
            except Exception:
                log.exception("event %s (%s) could not be serialised; clients will resume", event.id, event.kind)
                continue
            await self.broker.publish(payload)

    def commit_in_doubt(self, first_event_id: int) -> None:
        """The database lost its connection during a write's COMMIT: events from ``first_event_id``
        may be in the log and never published. Every process caps its cursors until its sockets
        resumed from the log, once the database answers again."""
        self._spawn(self.broker.publish(envelope({"k": "doubt", "after": first_event_id - 1}, b"")))

    async def send_ephemeral(
        self, conversation_id: int, payload: Mapping[str, Any], *, except_user: int | None = None
    ) -> None:
        """Send a frame that is never stored (e.g. ``typing``) to the conversation's connected
        members, except ``except_user``. The caller has checked the sender may see it."""
        header = {"k": "ephemeral", "conversation": conversation_id, "except": except_user}
        await self.broker.publish(envelope(header, encode(payload)))

    # -- receiving -----------------------------------------------------------------------------

    def _on_message(self, payload: bytes) -> None:
        head, _, frame = payload.partition(b"\n")
        header: dict[str, Any] = json.loads(head)
        kind = header["k"]
        if kind == "event":
            self._on_event(header, frame)
        elif kind == "ephemeral":
            members = self._table.members(header["conversation"])
            recipients = [u for u in self._connected(members) if u != header["except"]]
            self._fan_out_ephemeral(recipients, text_message(frame.decode()))
        elif kind == "presence":
            now = asyncio.get_running_loop().time()
            self._tell(self._online.mark(header["node"], header["user"], header["online"], now=now))
        elif kind == "doubt":
            self._horizon.doubt(header["after"])
        elif kind == "alive":
            now = asyncio.get_running_loop().time()
            self._tell(self._online.replace(header["node"], header["users"], now=now))
        else:
            log.warning("hub: unknown broker message %r", kind)

    def _on_event(self, header: dict[str, Any], frame: bytes) -> None:
        self._events_received += 1
        event_id: int = header["id"]
        conv: int | None = header["conversation"]
        subject: int | None = header["subject"]
        extra: set[int] = set()
        if conv is not None and header["members"] is not None:
            members = set(header["members"])
            before = set(self._table.members(conv))
            extra = self._table.apply(conv, members, event_id)
            if subject is not None:
                extra.add(subject)
            self._introduce(members - before, members)
        if header["kind"] == "user.role_changed" and subject is not None and header["role"]:
            role: str = header["role"]
            if self._role_events.get(subject, (0, ""))[0] < event_id:
                self._role_events[subject] = (event_id, role)
                if subject in self._roles:
                    self._roles[subject] = role
            extra.add(subject)
        recipients = self._audience(header["audience"], conv, subject)
        if extra:
            extra.difference_update(recipients)
            recipients.extend(u for u in extra if u in self._conns)
        # decoded once per event: every recipient is handed the same message
        text = self._horizon.frame(frame.decode(), event_id, broker_connected=self.broker.connected)
        self._fan_out(recipients, text_message(text))
        if header["kind"] == "user.deactivated" and subject is not None:
            self._deactivated[subject] = max(event_id, self._deactivated.get(subject, 0))
            for conn in list(self._conns.get(subject, ())):
                conn.close_soon(CLOSE_DEACTIVATED, "account deactivated")
        if header["kind"] in REVOKING_KINDS and subject is not None and header.get("revokes"):
            self._revoke(subject, event_id, header["kind"], header.get("revokes") or {})

    def _revoke(self, user_id: int, event_id: int, kind: str, facts: dict[str, Any]) -> None:
        """An event ended a credential of ``user_id``: close the sockets opened with it."""
        self._revocations.record(user_id, event_id, kind, facts)
        for conn in list(self._conns.get(user_id, ())):
            reason = ends(kind, facts, self._credential_of.get(conn, Credential()))
            if reason is not None:
                conn.close_soon(CLOSE_CREDENTIAL_REVOKED, reason)

    def _audience(self, audience: str, conv: int | None, subject: int | None) -> list[int]:
        if audience == "members":
            return self._connected(self._table.members(conv)) if conv is not None else []
        if audience == "subject":
            return [subject] if subject is not None and subject in self._conns else []
        roles = ROLE_AUDIENCES.get(audience)
        if roles is None:
            log.warning("hub: unknown audience %r", audience)
            return []
        return [u for u, role in self._roles.items() if roles(role)]

    def _fan_out(self, users: Iterable[int], message: WireMessage) -> None:
        for user_id in users:
            for conn in list(self._conns.get(user_id, ())):
                conn.offer(message)  # a full queue closes that socket and detaches it; never waits

    def _fan_out_ephemeral(self, users: Iterable[int], message: WireMessage) -> None:
        """Typing is best effort: a busy socket skips it rather than being closed."""
        for user_id in users:
            for conn in list(self._conns.get(user_id, ())):
                conn.offer_if_room(message)

    def _connected(self, users: set[int] | frozenset[int]) -> list[int]:
        if len(users) <= len(self._conns):
            return [u for u in users if u in self._conns]
        return [u for u in self._conns if u in users]

    def _on_gap(self) -> None:
        """The broker lost messages: the table may be stale and clients missed events."""
        for conn in list(self._user_of):
            conn.close_soon(CLOSE_RESYNC, "events may have been lost, resume")
        self._horizon.resumed()
        self._spawn(self._reload())

    async def _reload(self) -> None:
        if self._loader is None:
            return
        try:
            memberships, as_of = await self._loader()
        except Exception:
            log.exception("hub: loading memberships failed; attaching connections will refresh their users")
            return
        self.load_memberships(memberships, as_of=as_of)

    # -- presence ----------------------------------------------------------------------------------

    def _announce(self, user_id: int, *, online: bool) -> None:
        if self._presence:
            header = {"k": "presence", "node": self.node, "user": user_id, "online": online}
            self._spawn(self.broker.publish(envelope(header, b"")))

    def _tell(self, changes: list[Change]) -> None:
        """Presence changes: told to the peers here at the next flush."""
        for user_id, _online in changes:
            self._batch.change(user_id)
        self._flush_soon()

    def _introduce(self, added: set[int], members: set[int]) -> None:
        """New members and the conversation's online members learn each other's presence at
        the next flush (repeating an ``online`` a client already knows is harmless)."""
        if not self._presence:
            return
        online = [m for m in members if self.is_online(m)]
        for user_id in added:
            for conn in self._conns.get(user_id, ()):
                self._batch.owe(conn, [m for m in online if m != user_id])
            if self.is_online(user_id):
                for peer in self._connected(members):
                    if peer != user_id:
                        for conn in self._conns[peer]:
                            self._batch.owe(conn, (user_id,))
        self._flush_soon()

    def _flush_soon(self) -> None:
        if self._batch and self._flush is None and not self._closing:
            loop = asyncio.get_running_loop()
            self._flush = loop.call_later(self._batch.delay(now=loop.time()), self._flush_presence)

    def _flush_presence(self) -> None:
        """One presence frame to each connection with something to be told (module docstring)."""
        if self._flush is not None:  # called before its time (tests): the timer is not needed
            self._flush.cancel()
            self._flush = None
        if self._closing:
            return
        tell, owed = self._batch.take(self.is_online, now=asyncio.get_running_loop().time())
        entries = {u: presence_entry(u, online) for u, online in tell.items()}
        for user_id, about in self._table.sharing(tell, self._conns).items():
            message: WireMessage | None = None  # the same for every socket of the user
            for conn in self._conns[user_id]:
                extra = owed.pop(conn, None)
                if extra:
                    self._offer_presence(conn, {u: entries[u] for u in about} | self._entries(extra))
                else:
                    message = message or text_message(presence_frame({u: entries[u] for u in about}))
                    if not conn.offer_if_room(message):
                        self._batch.owe(conn, about)
        for conn, users in owed.items():
            if conn in self._user_of:
                self._offer_presence(conn, self._entries(users))
        self._flush_soon()  # what did not fit, at the next interval

    def _offer_presence(self, conn: Connection, entries: dict[int, str]) -> None:
        if entries and not conn.offer_if_room(text_message(presence_frame(entries))):
            self._batch.owe(conn, entries)

    def _entries(self, users: Iterable[int]) -> dict[int, str]:
        return {u: presence_entry(u, self.is_online(u)) for u in users}

    async def _heartbeat(self) -> None:
        """Tell the other processes who is connected here; forget processes gone silent."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                await self.broker.publish(envelope({"k": "alive", "node": self.node, "users": list(self._conns)}, b""))
                self._tell(self._online.expire(before=loop.time() - 3 * self._presence_interval, keep=self.node))
            except Exception:
                log.exception("hub: presence heartbeat failed")
            await asyncio.sleep(self._presence_interval)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        async def guarded() -> None:
            try:
                await coro
            except Exception:
                log.exception("hub: background task failed")

        task = asyncio.get_running_loop().create_task(guarded())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
