"""Rename, resolve and move topics (or part of one); per-user mute and follow.

``update_topic`` applies one ``UpdateTopic`` to the messages of a topic chosen
by ``scope``: ``all`` (the whole topic), ``one`` (``message_id`` only) or
``later`` (``message_id`` and every later message of the topic). Messages keep
their ids, revisions, reactions and events; each moved or renamed message
gets one more revision row (same body, new topic / conversation, the mover as
editor), so its history shows where it has been.

Names: the first spelling of a topic is its display form, so messages moved
or renamed into an existing topic (same name without regard to case, or a
name that looks like it: ``message_views.display_topic``) merge into it and
take that topic's spelling. A case-only rename inside one conversation always
applies to the whole topic. Resolving is Zulip's convention: the name gains a
leading ``"✔ "`` (shortened to fit 60 characters); resolving a resolved
topic changes nothing.

Events, one per conversation touched (each conversation is its own chain):
``topic.renamed``, ``topic.resolved`` / ``topic.unresolved`` (a rename that
only adds or drops the mark), or ``topic.moved`` written once in the source
chain and once in the destination chain. All carry
``{"from": {"conversation", "topic"}, "to": {…}, "scope", "message_ids"}``.
In a move, each chain names the other conversation only if it is a public
channel: the destination's members never learn a private group's id or topic
(``{"conversation": null, "topic": ""}``), nor the source's members where the
messages went in a private group.
The old ``message.posted`` events stay in the source chain; readers hide them
from whoever cannot see the message's current conversation.

Per-user state moves with a whole topic (``scope="all"``): mute/follow
choices. Read markers are per conversation and per topic and do not move:
messages moved into a conversation whose marker is older show as unread
there (read markers are positions, not per-message flags).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Row, and_, delete, exists, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from chat.channels.message_commands import (
    TOPIC_MAX,
    SetTopicVisibility,
    UpdateTopic,
    VisibilityMode,
    is_resolved,
    normalise_topic,
    resolved_name,
    topic_key,
    unresolved_name,
)
from chat.channels.message_views import display_topic, message_not_found
from chat.channels.policy import (
    ConversationAccess,
    access_conversation,
    can_move_topic,
    can_rename_topic,
    can_resolve_topic,
    require,
)
from chat.domain.actors import Actor
from chat.domain.events import append_event
from chat.errors import Forbidden, Invalid, NotFound
from chat.store import models

TopicRow = Row[int, int, str]  # message id, author id, topic


@dataclass(frozen=True)
class TopicUpdated:
    """Where the messages are now; ``changed`` is False when the request changed nothing."""

    conversation: int
    topic: str
    previous_conversation: int
    previous_topic: str
    resolved: bool
    message_ids: list[int]
    changed: bool


@dataclass(frozen=True)
class TopicVisibility:
    conversation: int
    topic: str
    mode: VisibilityMode
    changed: bool


def no_topics() -> Invalid:
    return Invalid("topic_not_allowed", "direct conversations have no topics", field="topic")


def topic_not_found() -> NotFound:
    return NotFound("topic_not_found", "there is no such topic")


def check_topic_name(name: str) -> str:
    """A topic name from a URL path: whitespace normalised, 1 to 60 characters."""
    name = normalise_topic(name)
    if not name:
        raise Invalid("empty", "topic must not be empty", field="topic")
    if len(name) > TOPIC_MAX:
        raise Invalid("too_long", f"topic is longer than {TOPIC_MAX} characters", field="topic", limit=TOPIC_MAX)
    return name


async def update_topic(session: AsyncSession, actor: Actor, conversation_id: int, cmd: UpdateTopic) -> TopicUpdated:
    """Rename, resolve / unresolve and/or move (part of) a topic; see the module docstring."""
    target_id = cmd.move_to_conversation or conversation_id
    accesses: dict[int, ConversationAccess] = {}
    for cid in sorted({conversation_id, target_id}):  # lock conversation rows in id order: no deadlock
        accesses[cid] = await access_conversation(session, actor, cid, lock=True)
    source, target = accesses[conversation_id], accesses[target_id]
    if source.kind == "direct" or target.kind == "direct":
        raise no_topics()
    key = topic_key(cmd.topic)
    rows = (
        await session.execute(
            select(models.Message.id, models.Message.author_id, models.Message.topic)
            .where(models.Message.conversation_id == conversation_id, models.Message.topic_key == key)
            .order_by(models.Message.id)
        )
    ).all()
    if not rows:
        raise topic_not_found()
    current = str(rows[0].topic)
    moving = target_id != conversation_id
    name = _new_name(cmd, current)
    new_key = topic_key(name)
    scope = "all" if not moving and new_key == key else cmd.scope  # one display form per topic
    chosen = _in_scope(rows, scope, cmd.message_id)
    only_resolve = not moving and unresolved_name(name) == unresolved_name(current)  # at most the mark changes
    _authorize(actor, source, target, moving, only_resolve, rows, chosen)
    if not moving and name == current:
        return TopicUpdated(conversation_id, current, conversation_id, current, is_resolved(current), [], False)
    if moving or new_key != key:
        name = await display_topic(session, target_id, new_key) or name  # an existing look-alike merges
        new_key = topic_key(name)
        if not moving and new_key == key:  # a look-alike of the topic itself: nothing to rename
            return TopicUpdated(conversation_id, current, conversation_id, current, is_resolved(current), [], False)
    where = _scope_clause(conversation_id, key, scope, cmd.message_id)
    now = models.utcnow()
    await session.execute(
        insert(models.MessageRevision).from_select(
            ["message_id", "body", "topic", "conversation_id", "editor_id", "created_at"],
            select(
                models.Message.id,
                models.Message.body,
                literal(name),
                literal(target_id),
                literal(actor.id),
                literal(now, type_=models.MessageRevision.__table__.c.created_at.type),
            ).where(where),
        )
    )
    await session.execute(
        update(models.Message)
        .where(where)
        .values(conversation_id=target_id, topic=name, topic_key=new_key)
        .execution_options(synchronize_session=False)
    )
    if scope == "all":
        await _move_topic_states(session, conversation_id, key, target_id, new_key)
    ids = [int(r.id) for r in chosen]
    origin = {"conversation": conversation_id, "topic": current}
    destination = {"conversation": target_id, "topic": name}
    data = {"from": origin, "to": destination, "scope": scope, "message_ids": ids}
    if moving:  # each chain names the other conversation only if it is a public channel
        chains = [
            ("topic.moved", conversation_id, {**data, "to": _seen_from_elsewhere(target, destination)}),
            ("topic.moved", target_id, {**data, "from": _seen_from_elsewhere(source, origin)}),
        ]
    elif only_resolve:
        chains = [("topic.resolved" if is_resolved(name) else "topic.unresolved", conversation_id, data)]
    else:
        chains = [("topic.renamed", conversation_id, data)]
    for kind, chain_conversation, payload in chains:
        await append_event(
            session, kind=kind, actor_id=actor.id, conversation_id=chain_conversation, data=payload, created_at=now
        )
    return TopicUpdated(target_id, name, conversation_id, current, is_resolved(name), ids, True)


def _seen_from_elsewhere(access: ConversationAccess, place: dict[str, object]) -> dict[str, object]:
    """``place`` as the members of the *other* conversation of a move see it.

    The event is written once for every present and future member of that
    conversation, so only a public channel is named; a private group (its id
    and its topic) stays hidden, as ``/history`` hides it:
    ``{"conversation": null, "topic": ""}``.
    """
    if access.kind == "public":
        return place
    return {"conversation": None, "topic": ""}


def _new_name(cmd: UpdateTopic, current: str) -> str:
    base = cmd.new_name if cmd.new_name is not None else current
    if cmd.resolved is True:
        return resolved_name(base)
    if cmd.resolved is False:
        return unresolved_name(base) or base
    return base


def _in_scope(rows: Sequence[TopicRow], scope: str, message_id: int | None) -> Sequence[TopicRow]:
    if scope == "all":
        return rows
    assert message_id is not None  # noqa: S101 - UpdateTopic requires it for "one" and "later"
    chosen = [r for r in rows if r.id == message_id] if scope == "one" else [r for r in rows if r.id >= message_id]
    if not chosen or chosen[0].id != message_id:
        raise message_not_found()
    return chosen


def _scope_clause(conversation_id: int, key: str, scope: str, message_id: int | None) -> ColumnElement[bool]:
    m = models.Message
    if scope == "one":
        return m.id == message_id
    clause = and_(m.conversation_id == conversation_id, m.topic_key == key)
    if scope == "later":
        clause = and_(clause, m.id >= message_id)
    return clause


def _authorize(
    actor: Actor,
    source: ConversationAccess,
    target: ConversationAccess,
    moving: bool,
    only_resolve: bool,
    topic_rows: Sequence[TopicRow],
    chosen: Sequence[TopicRow],
) -> None:
    facts = source.facts(actor)
    if moving:
        own = all(r.author_id == actor.id for r in chosen)
        if can_move_topic(actor, facts, target.facts(actor), own):
            return
        require("post", actor, facts)
        require("post", actor, target.facts(actor))
        raise Forbidden("not_allowed", "only moderators may move other people's messages to another conversation")
    if only_resolve:
        if can_resolve_topic(actor, facts.kind, facts.is_member, facts.archived):
            return
        require("post", actor, facts)
        raise Forbidden("not_allowed", "you may not resolve this topic")
    participant = any(r.author_id == actor.id for r in topic_rows)
    if can_rename_topic(actor, facts.kind, facts.is_member, facts.archived, participant):
        return
    require("post", actor, facts)
    raise Forbidden("not_allowed", "only the topic's participants and moderators may rename it")


async def _move_topic_states(session: AsyncSession, source: int, key: str, target: int, new_key: str) -> None:
    """Carry each user's mute/follow choice to the topic's new place (an existing choice there wins)."""
    ts = models.TopicState
    there = aliased(models.TopicState)
    await session.execute(
        insert(ts).from_select(
            ["user_id", "conversation_id", "topic_key", "mode"],
            select(ts.user_id, literal(target), literal(new_key), ts.mode).where(
                ts.conversation_id == source,
                ts.topic_key == key,
                ~exists().where(
                    there.user_id == ts.user_id, there.conversation_id == target, there.topic_key == new_key
                ),
            ),
        )
    )
    await session.execute(delete(ts).where(ts.conversation_id == source, ts.topic_key == key))


# --- mute and follow ------------------------------------------------------------------------


async def set_topic_visibility(
    session: AsyncSession, actor: Actor, conversation_id: int, topic: str, cmd: SetTopicVisibility
) -> TopicVisibility:
    """Mute, follow, or reset (``default``) a topic for the actor alone (``topic.visibility_changed``)."""
    access = await access_conversation(session, actor, conversation_id)
    if access.kind == "direct":
        raise no_topics()
    name = check_topic_name(topic)
    name = await display_topic(session, conversation_id, topic_key(name)) or name
    key = topic_key(name)
    state = await session.get(models.TopicState, (actor.id, conversation_id, key))
    before = state.mode if state is not None else "default"
    if before == cmd.mode:
        return TopicVisibility(conversation_id, name, cmd.mode, changed=False)
    if cmd.mode == "default":
        await session.delete(state)
    elif state is None:
        session.add(models.TopicState(user_id=actor.id, conversation_id=conversation_id, topic_key=key, mode=cmd.mode))
    else:
        state.mode = cmd.mode
    await session.flush()
    await append_event(
        session,
        kind="topic.visibility_changed",
        actor_id=actor.id,
        conversation_id=None,
        audience="subject",
        subject_id=actor.id,
        data={"conversation": conversation_id, "topic": name, "mode": cmd.mode},
    )
    return TopicVisibility(conversation_id, name, cmd.mode, changed=True)
