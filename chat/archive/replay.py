"""Replay the event log and compare what it implies with the tables the API reads.

The hash chains prove that the *log* was not altered; they say nothing of the
tables people read (``messages``, ``message_revisions``, ``reactions``,
``memberships``), which an UPDATE behind the log's back can change without
touching an event. :func:`replay_log` reads every conversation's chain in
``seq`` order (in batches, like :mod:`chat.archive.audit`), rebuilds the state
its events imply, and reports the first difference per table:

- **messages**: conversation, topic, author, deleted or not, and the body as of
  the last ``message.posted`` / ``message.edited`` event (a deleted message's
  body is empty in the table). Moves are followed: a ``topic.moved``,
  ``topic.renamed``, ``topic.resolved`` or ``topic.unresolved`` event names its
  messages and where they went. A field takes the value of the newest event
  (by event id) that set it, whichever chain that event is in, so a message
  moved between conversations replays the same as one that stayed.
- **revisions**: how many each message has (its post, each edit, each topic
  change that named it), then each one's body, in order: a post's or an edit's
  as its event carries it, a topic change's the body it left unchanged (an
  erased body event is skipped there too).
- **reactions**: the ``(message, user, emoji)`` rows left after every
  ``reaction.added`` and ``reaction.removed``.
- **memberships**: the members a conversation was created with, then every
  ``member.joined`` / ``member.invited`` / ``member.left`` / ``member.removed``.
- **files**: the uploads each live message's post listed (``message_attachments``),
  their sha256 (``uploads``), and, given the file store, the stored bytes
  (:mod:`chat.archive.file_audit`): a swapped or missing file is named.

Limits, on purpose:

- A body erased from the log (``redacted``: GDPR, moderation) cannot be
  compared; a message whose latest body event is redacted has its body skipped
  (counted in :attr:`ReplayReport.bodies_skipped`), its other fields are still
  compared.
- Only the chains of conversations that have a row are replayed: a chain whose
  conversation row is gone is left to the chain verification.
- Topic mute/follow choices (``topic_states``), read markers and the
  conversations' own settings are not compared.
- ``conversation_id`` narrows the *comparison* to one conversation's rows; every
  chain is still read, since a message may have been moved in from another.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from chat.archive.audit import chain_events
from chat.archive.file_audit import TABLE as FILES_TABLE
from chat.archive.file_audit import Blobs, Carried, carried_by, compare_files
from chat.store import models

BATCH = 2000
_TOPIC_CHANGES = frozenset({"topic.moved", "topic.renamed", "topic.resolved", "topic.unresolved"})
_JOINS = frozenset({"member.joined", "member.invited"})
_LEAVES = frozenset({"member.left", "member.removed"})
T = TypeVar("T")
K = TypeVar("K", tuple[int, int], tuple[int, int, str])


@dataclass(frozen=True)
class Difference:
    """The first row of one table that does not match the log; ``problem`` names it."""

    table: str
    problem: str


@dataclass(frozen=True)
class ReplayReport:
    conversations: int
    events: int
    bodies_skipped: int
    differences: tuple[Difference, ...]
    files_read: int = 0  # blobs of the file store read and hashed

    @property
    def ok(self) -> bool:
        return not self.differences


_SAME = b"same"  # a topic change's revision: the body of the revision before it


def _bodies(history: list[tuple[int, bytes | None]], deleted: int | None) -> list[tuple[int, bytes | None]]:
    """Each revision's body digest in revision order (events from several chains sorted by id); a topic
    change after the message was deleted records the emptied body."""
    out: list[tuple[int, bytes | None]] = []
    current: bytes | None = None
    for event_id, digest in sorted(history, key=lambda h: h[0]):
        if digest is _SAME:
            current = _digest("") if deleted is not None and event_id > deleted else current
        else:
            current = digest
        out.append((event_id, current))
    return out


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


@dataclass
class _Message:
    """What the log says of one message; each field with the id of the event that set it last."""

    posted: int
    author: int
    conversation: tuple[int, int]
    topic: tuple[int, str]
    body: tuple[int, bytes | None]  # None: that event's body was erased
    deleted: int | None = None
    revisions: int = 0
    # every revision as (event id, the body's digest; None: erased; _SAME: a topic change keeps the body)
    history: list[tuple[int, bytes | None]] = field(default_factory=list)


def _newest(old: tuple[int, T], new: tuple[int, T]) -> tuple[int, T]:
    return new if new[0] > old[0] else old


@dataclass
class _State:
    messages: dict[int, _Message] = field(default_factory=dict)
    reactions: dict[tuple[int, int, str], tuple[int, bool]] = field(default_factory=dict)
    members: dict[int, dict[int, tuple[int, bool]]] = field(default_factory=dict)
    files: dict[int, list[Carried]] = field(default_factory=dict)  # message id -> its post's attachments
    events: int = 0

    def apply(self, conversation_id: int, row: models.Event) -> None:
        self.events += 1
        kind, data, event_id = row.kind, row.payload, row.id
        if kind == "message.posted":
            m = data["message"]
            message = self._message(m["id"])
            message.posted, message.author = event_id, int(m["author"])
            message.revisions += 1
            message.history.append((event_id, self._body(row)))
            message.conversation = _newest(message.conversation, (event_id, conversation_id))
            message.topic = _newest(message.topic, (event_id, str(m["topic"])))
            message.body = _newest(message.body, (event_id, self._body(row)))
            if m.get("attachments"):
                self.files[int(m["id"])] = carried_by(m)
        elif kind == "message.edited":
            message = self._message(data["message_id"])
            message.revisions += 1
            message.history.append((event_id, self._body(row)))
            message.body = _newest(message.body, (event_id, self._body(row)))
        elif kind == "message.deleted":
            self._message(data["message_id"]).deleted = event_id
        elif kind in ("reaction.added", "reaction.removed"):
            key = (int(data["message_id"]), int(data["user"]), str(data["emoji"]))
            self._set(self.reactions, key, (event_id, kind == "reaction.added"))
        elif kind in _TOPIC_CHANGES:
            self._topic_change(conversation_id, row)
        elif kind == "conversation.created":
            for user in data.get("members", ()):
                self._set(self.members.setdefault(conversation_id, {}), int(user), (event_id, True))
        elif kind in _JOINS or kind in _LEAVES:
            self._set(self.members.setdefault(conversation_id, {}), int(data["user"]), (event_id, kind in _JOINS))

    def _topic_change(self, conversation_id: int, row: models.Event) -> None:
        to = row.payload["to"]
        if to.get("conversation") != conversation_id:
            return  # the source side of a move: the destination's chain has the same event, with the full place
        for message_id in row.payload["message_ids"]:
            message = self._message(message_id)
            message.revisions += 1
            message.history.append((row.id, _SAME))
            message.conversation = _newest(message.conversation, (row.id, conversation_id))
            message.topic = _newest(message.topic, (row.id, str(to["topic"])))

    def _message(self, message_id: Any) -> _Message:
        # A change read before the message's post (another chain, read first) waits on a placeholder.
        return self.messages.setdefault(int(message_id), _Message(0, 0, (0, 0), (0, ""), (0, b"")))

    @staticmethod
    def _set(table: dict[Any, tuple[int, bool]], key: Any, value: tuple[int, bool]) -> None:
        if key not in table or table[key][0] < value[0]:
            table[key] = value

    @staticmethod
    def _body(row: models.Event) -> bytes | None:
        if row.redacted or row.body is None:
            return None
        return _digest(str(json.loads(row.body).get("body", "")))


async def replay_log(
    session: AsyncSession, conversation_id: int | None = None, blobs: Blobs | None = None
) -> ReplayReport:
    """Replay every conversation's chain; compare with the tables (all, or one conversation's rows),
    and with ``blobs`` (the file store) the bytes of every attached file (:mod:`chat.archive.file_audit`)."""
    conversations = list((await session.scalars(select(models.Conversation.id).order_by(models.Conversation.id))).all())
    state = _State()
    for cid in conversations:
        async for row in chain_events(session, f"c{cid}"):
            state.apply(cid, row)
    scope = _Scope(
        frozenset(conversations) if conversation_id is None else frozenset({conversation_id}), conversation_id
    )
    skipped = [0]
    differences = [
        d
        for d in (
            await _compare_messages(session, state, scope, skipped),
            await _compare_revisions(session, state, scope),
            await _compare_reactions(session, state, scope),
            await _compare_memberships(session, state, scope),
        )
        if d is not None
    ]
    in_scope = _in_scope(state, scope)
    logged = {i: state.files[i] for i in in_scope if i in state.files}
    live = {i for i in logged if in_scope[i].deleted is None}
    files_read, problems = await compare_files(session, logged, live, blobs)
    found = _first(FILES_TABLE, problems)
    if found is not None:
        differences.append(found)
    return ReplayReport(len(conversations), state.events, skipped[0], tuple(differences), files_read)


@dataclass(frozen=True)
class _Scope:
    """The conversations whose rows are compared: all of them (no filter in SQL), or ``only`` one."""

    ids: frozenset[int]
    only: int | None

    def __contains__(self, conversation_id: object) -> bool:
        return conversation_id in self.ids

    def clause(self, column: Any) -> ColumnElement[bool]:
        return true() if self.only is None else column == self.only


def _in_scope(state: _State, scope: _Scope) -> dict[int, _Message]:
    return {i: m for i, m in state.messages.items() if m.posted and m.conversation[1] in scope}


async def _batches(session: AsyncSession, query: Any, key: Any) -> AsyncIterator[Any]:
    after = 0
    while True:
        rows = (await session.execute(query.where(key > after).order_by(key).limit(BATCH))).all()
        for row in rows:
            yield row
        if len(rows) < BATCH:
            return
        after = rows[-1][0]


async def _compare_messages(
    session: AsyncSession, state: _State, scope: _Scope, skipped: list[int]
) -> Difference | None:
    m = models.Message
    expected = _in_scope(state, scope)
    found: list[tuple[int, str]] = []
    query = select(m.id, m.conversation_id, m.topic, m.author_id, m.body, m.deleted_at).where(
        scope.clause(m.conversation_id)
    )
    async for row in _batches(session, query, m.id):
        log = expected.pop(int(row.id), None)
        if log is None:
            found.append((int(row.id), f"message {row.id} is in messages but not in the log"))
            continue
        problem = _message_problem(row, log, skipped)
        if problem:
            found.append((int(row.id), problem))
    for message_id, log in expected.items():
        found.append((message_id, f"message {message_id} is in the log (event {log.posted}) but not in messages"))
    return _first("messages", found)


def _message_problem(row: Any, log: _Message, skipped: list[int]) -> str:
    name = f"of message {row.id} differs from the log"
    if row.conversation_id != log.conversation[1]:
        return f"messages.conversation_id {name} (event {log.conversation[0]})"
    if row.topic != log.topic[1]:
        return f"messages.topic {name} (event {log.topic[0]})"
    if row.author_id != log.author:
        return f"messages.author_id {name} (event {log.posted})"
    if log.deleted is not None:
        if row.deleted_at is None or row.body != "":
            return f"message {row.id} was deleted in the log (event {log.deleted}) but not in messages"
        return ""
    if row.deleted_at is not None:
        return f"message {row.id} is deleted in messages but not in the log"
    if log.body[1] is None:
        skipped[0] += 1
    elif _digest(row.body) != log.body[1]:
        return f"messages.body {name} (event {log.body[0]})"
    return ""


async def _compare_revisions(session: AsyncSession, state: _State, scope: _Scope) -> Difference | None:
    r, m = models.MessageRevision, models.Message
    table: dict[int, list[str]] = {}
    query = select(r.id, r.message_id, r.body).join(m, m.id == r.message_id).where(scope.clause(m.conversation_id))
    async for _rid, message_id, body in _batches(session, query, r.id):
        table.setdefault(int(message_id), []).append(str(body))
    found = []
    for message_id, log in _in_scope(state, scope).items():
        have = table.get(message_id, [])
        if len(have) != log.revisions:
            found.append(
                (message_id, f"message {message_id} has {len(have)} revision(s) where the log implies {log.revisions}")
            )
            continue
        for number, (body, (event_id, expected)) in enumerate(
            zip(have, _bodies(log.history, log.deleted), strict=True), start=1
        ):
            if expected is not None and _digest(body) != expected:
                found.append(
                    (
                        message_id,
                        f"message_revisions.body of revision {number} of message {message_id} "
                        f"differs from the log (event {event_id})",
                    )
                )
                break
    return _first("revisions", found)


async def _compare_reactions(session: AsyncSession, state: _State, scope: _Scope) -> Difference | None:
    r, m = models.Reaction, models.Message
    messages = _in_scope(state, scope)
    rows = await session.execute(
        select(r.message_id, r.user_id, r.emoji).join(m, m.id == r.message_id).where(scope.clause(m.conversation_id))
    )
    table = {(int(a), int(b), str(c)) for a, b, c in rows.all()}
    log = {k: v[0] for k, v in state.reactions.items() if v[1] and k[0] in messages}
    return _first_of_sets("reactions", log, table, lambda k: f"reaction {k[2]} by user {k[1]} on message {k[0]}")


async def _compare_memberships(session: AsyncSession, state: _State, scope: _Scope) -> Difference | None:
    ms = models.Membership
    rows = await session.execute(select(ms.conversation_id, ms.user_id).where(scope.clause(ms.conversation_id)))
    table = {(int(c), int(u)) for c, u in rows.all()}
    log = {(c, u): v[0] for c, users in state.members.items() if c in scope for u, v in users.items() if v[1]}
    return _first_of_sets("memberships", log, table, lambda k: f"membership of user {k[1]} in conversation {k[0]}")


def _first_of_sets(table: str, log: dict[K, int], rows: set[K], name: Callable[[K], str]) -> Difference | None:
    """The first row that one side has and the other has not; ``log`` maps each row to its event."""
    found = [(k, f"{name(k)} is in the log (event {log[k]}) but not in {table}") for k in log.keys() - rows]
    found += [(k, f"{name(k)} is in {table} but not in the log") for k in rows - log.keys()]
    return _first(table, found)


def _first(table: str, found: Iterable[tuple[Any, str]]) -> Difference | None:
    ordered = sorted(found, key=lambda f: f[0])
    return Difference(table, ordered[0][1]) if ordered else None
