"""Post, edit and delete messages; add and remove reactions.

Each action writes exactly one event in the caller's transaction (none when
nothing changed) and never commits:

* ``message.posted``: ``data = {"message": <the message without its content>}``;
  the erasable ``body`` holds ``{"body", "html", "meetings"}``. Its id and seq are
  stored on the message (``event_id``, ``seq``).
* ``message.edited``: ``data = {"message_id", "edited_at", "editor", "mentions", …}``,
  erasable ``body`` as above.
* ``message.deleted``: ``data = {"message_id", "deleted": {"by", "at", "reason"}}``.
* ``reaction.added`` / ``reaction.removed``: ``data = {"message_id", "emoji", "user"}``.

Every message event carries ``message_id``, so readers hide the events of a
message that was moved into a conversation they cannot see.

Deletion leaves a tombstone: the message row loses its text, HTML, mentions
and link flags (so history, search and unread counts no longer see it), but
the event bodies and revisions are kept for the audit archive; erasing those
(GDPR) is a separate, later action (``chat.archive.audit.redact_event_body``).

Mentions: only members of the conversation can be mentioned, in every kind of
conversation (as in Zulip, a non-member of a public channel is not notified;
the text stays plain and tells them nothing).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from chat.channels.attachments import attach_uploads
from chat.channels.meetings import (
    DEFAULT_JITSI_BASE,
    new_meeting_url,
    parse_meet_command,
)
from chat.channels.message_commands import (
    DEFAULT_MAX_CHARS,
    TOPIC_MAX,
    DeleteMessage,
    EditMessage,
    PostMessage,
    check_body,
    check_emoji,
    topic_key,
)
from chat.channels.message_views import (
    MessageOut,
    ReactionSummary,
    access_message,
    display_topic,
    load_reactions,
    message_event_body,
    message_event_data,
    message_out,
    one_message_out,
    render_for,
    rendered_columns,
)
from chat.channels.names import clean_name
from chat.channels.policy import (
    ConversationAccess,
    can_delete_message,
    can_edit_message,
    can_moderate,
    can_react,
    require,
    require_post,
    require_unmuted,
    within_window,
)
from chat.config import Settings
from chat.domain.actors import Actor
from chat.domain.events import append_event
from chat.errors import Conflict, Forbidden, Invalid
from chat.store import models, workspace
from chat.store.db import cached, insert_or_skip, remembers, stage, table_of


@dataclass(frozen=True)
class Posted:
    """A posted message; ``created`` is False when a retry (same author and nonce) returned the stored one."""

    message: MessageOut
    created: bool


@dataclass(frozen=True)
class ReactionChanged:
    """The reactions of a message after a reaction was added or removed (``changed``: False when a no-op)."""

    message_id: int
    emoji: str
    changed: bool
    reactions: list[ReactionSummary]


# --- posting ------------------------------------------------------------------------------

_MESSAGES = table_of(models.Message)
_SET_EVENT = (
    update(_MESSAGES)
    .where(_MESSAGES.c.id == bindparam("message"))
    .values(event_id=bindparam("event"), seq=bindparam("event_seq"))
)
_INSERT_REVISION = insert(table_of(models.MessageRevision))


async def post_message(
    session: AsyncSession,
    actor: Actor,
    conversation_id: int,
    cmd: PostMessage,
    *,
    max_chars: int = DEFAULT_MAX_CHARS,
    defaults: Settings | None = None,
) -> Posted:
    """Post ``cmd`` into a conversation, idempotently on ``(author, nonce)``.

    ``defaults`` (the server's settings): a ``/meet`` command, and only it, reads the
    workspace's ``meeting_base_url`` in force (``chat.store.workspace``); without
    them, rooms are made on ``DEFAULT_JITSI_BASE``. Other posts read no setting.

    On the SQLite writer's warm path (conversation, topic spelling and chain head
    remembered) this is four statements: the message (``INSERT … ON CONFLICT DO
    NOTHING RETURNING``: a retried nonce inserts nothing), its event, the event's
    id on the message, the first revision; one more to resolve ``@mentions``.
    """
    facts = await require_post(session, actor, conversation_id)
    topic = _check_topic(facts.kind, cmd.topic)
    body = check_body(cmd.body, max_chars, may_be_empty=bool(cmd.attachments))
    title = parse_meet_command(body)
    if title is not None:
        base = DEFAULT_JITSI_BASE if defaults is None else (await workspace.load(session, defaults)).meeting_base_url
        body = check_body(meet_body(title, new_meeting_url(base)), max_chars)
    key = topic_key(topic)
    if topic:
        topic = await _topic_spelling(session, conversation_id, topic, key)  # a look-alike topic merges
        key = topic_key(topic)
    rendered = await render_for(session, conversation_id, body)
    now = models.utcnow()
    columns = {
        "conversation_id": conversation_id,
        "topic": topic,
        "topic_key": key,
        "author_id": actor.id,
        "nonce": cmd.nonce,
        "body": body,
        "created_at": now,
        **rendered_columns(rendered),
    }
    conn = await session.connection()  # Core statements built once: no ORM unit of work, no recompiling
    inserted = await conn.execute(insert_or_skip(conn, _MESSAGES, ("author_id", "nonce"), "id"), columns)
    message_id = inserted.scalar_one_or_none()
    if message_id is None:
        return await _replay(session, actor, conversation_id, cmd, key)
    row = models.Message(id=message_id, **columns)  # transient: what was inserted, to build the views
    files = await attach_uploads(session, actor, message_id, cmd.attachments) if cmd.attachments else []
    out = message_out(row, attachments=files)
    event = await append_event(
        session,
        kind="message.posted",
        actor_id=actor.id,
        conversation_id=conversation_id,
        data={"message": message_event_data(out)},
        body=message_event_body(out),
        message_id=message_id,
        created_at=now,
    )
    await conn.execute(_SET_EVENT, {"message": message_id, "event": event.id, "event_seq": event.seq})
    revision = {"message_id": message_id, "body": body, "topic": topic, "editor_id": actor.id, "created_at": now}
    await conn.execute(_INSERT_REVISION, {**revision, "conversation_id": conversation_id})
    return Posted(dataclasses.replace(out, event_id=event.id, seq=event.seq), created=True)


async def _topic_spelling(session: AsyncSession, conversation_id: int, topic: str, key: str) -> str:
    """The spelling a new message's topic takes: that of the existing topic it names, if any.

    The SQLite writer remembers the answers per conversation (forgotten when a
    topic is renamed or messages move: every such change is an event there).
    """
    known: dict[str, str] | None = cached(session, ("topics", conversation_id))
    if known is not None and key in known:
        return known[key]
    spelling = await display_topic(session, conversation_id, key) or topic
    if remembers(session):
        stage(session, ("topics", conversation_id), {**(known or {}), key: spelling})
    return spelling


def meet_body(title: str, url: str) -> str:
    """The markdown a ``/meet [title]`` command posts: the title, then the room's link."""
    return f"{title or 'Video call'}: {url}"


def _is_meet_body(body: str, title: str) -> bool:
    url = body.rsplit(": ", 1)[-1]  # a room on the workspace's meeting server, whichever it was then
    return url.startswith("https://") and " " not in url and body == meet_body(title, url)


def _check_topic(kind: str, topic: str) -> str:
    if kind == "direct":
        if topic:
            raise Invalid("topic_not_allowed", "direct conversations have no topics", field="topic")
        return ""
    if not topic:
        raise Invalid("topic_required", "a message in a channel or group needs a topic (1 to 60 characters)")
    topic = clean_name(topic, "topic")  # NFKC (which can lengthen it); no bidi controls or invisible characters
    if len(topic) > TOPIC_MAX:
        raise Invalid("too_long", f"topic is longer than {TOPIC_MAX} characters", field="topic", limit=TOPIC_MAX)
    return topic


async def _replay(session: AsyncSession, actor: Actor, conversation_id: int, cmd: PostMessage, key: str) -> Posted:
    """A post whose nonce is taken: the stored message if it is the same request, else ``nonce_reused``."""
    stored = (
        await session.execute(
            select(models.Message)
            .where(models.Message.author_id == actor.id, models.Message.nonce == cmd.nonce)
            .execution_options(populate_existing=True)
        )
    ).scalar_one()
    original = (
        await session.execute(
            select(models.MessageRevision)
            .where(models.MessageRevision.message_id == stored.id)
            .order_by(models.MessageRevision.id)
            .limit(1)
        )
    ).scalar_one()
    body = cmd.body.rstrip()
    title = parse_meet_command(body)
    same_body = original.body == body or (title is not None and _is_meet_body(original.body, title))
    if original.conversation_id != conversation_id or topic_key(original.topic) != key or not same_body:
        raise Conflict("nonce_reused", "this nonce was already used for a different message", message_id=stored.id)
    if stored.conversation_id != conversation_id:  # moved since: answer only if the actor can see it now
        await access_message(session, actor, stored.id)
    return Posted(await one_message_out(session, stored), created=False)


# --- editing and deleting -----------------------------------------------------------------


def _refuse(actor: Actor, row: models.Message, access: ConversationAccess, verb: str) -> None:
    """Raise the most precise ``Forbidden`` for an edit or delete the policy refused."""
    if row.author_id != actor.id:
        who = "the author" if verb == "edit" else "the author or a moderator"
        raise Forbidden("not_author", f"only {who} may {verb} this message")
    require("post", actor, access.facts(actor))
    raise Forbidden("not_allowed", f"you may not {verb} this message")


def _check_window(row: models.Message, window_s: int, error: Forbidden) -> None:
    """Raise ``error`` when the message is older than the author's window (0: no limit)."""
    if not within_window((models.utcnow() - row.created_at).total_seconds(), window_s):
        raise error


async def edit_message(
    session: AsyncSession,
    actor: Actor,
    message_id: int,
    cmd: EditMessage,
    *,
    max_chars: int = DEFAULT_MAX_CHARS,
    edit_window_s: int = 0,
) -> MessageOut:
    """Replace the body of the actor's own message, keeping the old one as a revision (not while muted).

    ``edit_window_s``: the workspace's edit window (0: no limit); past it, ``edit_window_passed``.
    """
    row, access = await access_message(session, actor, message_id, lock=True, with_mute=True)
    is_author = row.author_id == actor.id
    if not can_edit_message(actor, is_author, access.kind, access.is_member, access.conversation.archived):
        _refuse(actor, row, access, "edit")
    require_unmuted(access.muted_until)
    why = f"messages can be edited for {edit_window_s} s after posting"
    _check_window(row, edit_window_s, Forbidden("edit_window_passed", why, limit=edit_window_s))
    if row.deleted_at is not None:
        raise Conflict("message_deleted", "this message was deleted")
    if row.redacted_at is not None:
        raise Conflict("message_redacted", "this message's text was erased (retention or erasure)")
    body = check_body(cmd.body, max_chars)
    if body == row.body:
        return await one_message_out(session, row)
    rendered = await render_for(session, row.conversation_id, body)
    now = models.utcnow()
    row.body = body
    for name, value in rendered_columns(rendered).items():
        setattr(row, name, value)
    row.edited_at = now
    session.add(
        models.MessageRevision(
            message_id=row.id,
            body=body,
            topic=row.topic,
            conversation_id=row.conversation_id,
            editor_id=actor.id,
            created_at=now,
        )
    )
    out = await one_message_out(session, row)
    await append_event(
        session,
        kind="message.edited",
        actor_id=actor.id,
        conversation_id=row.conversation_id,
        data={
            "message_id": row.id,
            "editor": actor.id,
            "edited_at": now.isoformat(),
            "mentions": out.mentions,
            "wildcard_mention": out.wildcard_mention,
            "has_link": out.has_link,
            "has_meeting": out.has_meeting,
        },
        body=message_event_body(out),
        message_id=row.id,
        created_at=now,
    )
    return out


async def delete_message(
    session: AsyncSession, actor: Actor, message_id: int, cmd: DeleteMessage, *, delete_window_s: int = 0
) -> MessageOut:
    """Turn a message into a tombstone (who, when, why). Deleting a deleted message changes nothing.

    ``delete_window_s``: the workspace's delete window for authors (0: no limit); moderators
    (``can_moderate``) are not limited; past it, ``delete_window_passed``.
    """
    row, access = await access_message(session, actor, message_id, lock=True)
    is_author = row.author_id == actor.id
    if not can_delete_message(actor, is_author, access.kind, access.is_member, access.conversation.archived):
        _refuse(actor, row, access, "delete")
    if not can_moderate(actor, access.kind, access.is_member):
        why = f"messages can be deleted for {delete_window_s} s after posting"
        _check_window(row, delete_window_s, Forbidden("delete_window_passed", why, limit=delete_window_s))
    return await tombstone(session, actor, row, cmd.reason)


async def tombstone(session: AsyncSession, actor: Actor, row: models.Message, reason: str) -> MessageOut:
    """Delete a message the caller was allowed to delete (``message.deleted`` in its conversation's
    chain); a deleted message stays as it is. ``row`` was loaded with a row lock."""
    if row.deleted_at is not None:
        return message_out(row)
    now = models.utcnow()
    row.deleted_at, row.deleted_by, row.delete_reason = now, actor.id, reason or None
    row.body, row.html, row.mentions, row.wildcard_mention = "", "", [], ""
    row.has_link = row.has_meeting = False
    out = message_out(row)
    await append_event(
        session,
        kind="message.deleted",
        actor_id=actor.id,
        conversation_id=row.conversation_id,
        data={"message_id": row.id, "deleted": {"by": actor.id, "at": now.isoformat(), "reason": reason}},
        message_id=row.id,
        created_at=now,
    )
    return out


# --- reactions ----------------------------------------------------------------------------


async def _access_for_reaction(
    session: AsyncSession, actor: Actor, message_id: int, emoji: str
) -> tuple[models.Message, str]:
    row, access = await access_message(session, actor, message_id)
    if not can_react(actor, access.kind, access.is_member, access.conversation.archived):
        require("post", actor, access.facts(actor))
        raise Forbidden("not_allowed", "you may not react to this message")
    checked = check_emoji(emoji)
    if row.deleted_at is not None:
        raise Conflict("message_deleted", "this message was deleted")
    return row, checked


async def react(session: AsyncSession, actor: Actor, message_id: int, emoji: str) -> ReactionChanged:
    """Add the actor's reaction; adding it again changes nothing (PUT semantics: no second event)."""
    row, emoji = await _access_for_reaction(session, actor, message_id, emoji)
    conn = await session.connection()
    added = await conn.execute(
        insert_or_skip(conn, _REACTIONS, ("message_id", "user_id", "emoji"), "message_id"),
        {"message_id": row.id, "user_id": actor.id, "emoji": emoji, "created_at": models.utcnow()},
    )
    changed = added.first() is not None
    if changed:
        await _reaction_event(session, actor, row, emoji, "reaction.added")
    return await _reaction_state(session, row.id, emoji, changed)


_REACTIONS = table_of(models.Reaction)


async def unreact(session: AsyncSession, actor: Actor, message_id: int, emoji: str) -> ReactionChanged:
    """Remove the actor's reaction; removing an absent reaction changes nothing."""
    row, emoji = await _access_for_reaction(session, actor, message_id, emoji)
    result = await session.execute(
        delete(models.Reaction).where(
            models.Reaction.message_id == row.id,
            models.Reaction.user_id == actor.id,
            models.Reaction.emoji == emoji,
        )
    )
    changed = bool(getattr(result, "rowcount", 0))
    if changed:
        await _reaction_event(session, actor, row, emoji, "reaction.removed")
    return await _reaction_state(session, row.id, emoji, changed)


async def _reaction_event(session: AsyncSession, actor: Actor, row: models.Message, emoji: str, kind: str) -> None:
    await append_event(
        session,
        kind=kind,
        actor_id=actor.id,
        conversation_id=row.conversation_id,
        data={"message_id": row.id, "emoji": emoji, "user": actor.id},
        message_id=row.id,
    )


async def _reaction_state(session: AsyncSession, message_id: int, emoji: str, changed: bool) -> ReactionChanged:
    reactions = (await load_reactions(session, [message_id])).get(message_id, [])
    return ReactionChanged(message_id=message_id, emoji=emoji, changed=changed, reactions=reactions)
