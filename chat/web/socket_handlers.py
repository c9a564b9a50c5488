"""What each client frame does: parse is done, now one domain call and an ack.

:data:`HANDLERS` is the one table from frame type to handler: every type in
``chat.web.protocol.FRAMES`` has its entry here, ``ping``, ``resume`` and
``typing`` included, and ``chat.web.socket`` dispatches nothing else. A handler
takes the :class:`FrameContext` (the services, this socket, the actor as they
are now, the frame's id) and the parsed frame command, and returns the ack's
fields, or None when it answered the frame itself (``resume`` answers with
``resumed``). Domain errors (``ChatError``) become error frames in
``chat.web.socket``; no handler writes to the socket except through the
connection's queue.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from chat.channels import messages, policy, reads
from chat.channels.feed import events_since
from chat.channels.message_commands import DeleteMessage, EditMessage, MarkRead, PostMessage
from chat.channels.message_views import MessageOut
from chat.config import Settings
from chat.domain.actors import Actor
from chat.errors import ChatError
from chat.realtime.ephemeral import TypingThrottle
from chat.realtime.frames import event_frame
from chat.realtime.resumable import ResumableConnection
from chat.store import workspace
from chat.store.db import Database
from chat.web import protocol
from chat.web.protocol import (
    DeleteFrame,
    EditFrame,
    FrameId,
    PingFrame,
    PostFrame,
    ReactFrame,
    ReadFrame,
    ResumeFrame,
    TypingFrame,
)
from chat.web.state import Services

RESUME_PAGE = 500

Ack = dict[str, Any]


@dataclass(frozen=True, slots=True)
class FrameContext:
    """What a handler can reach for one frame."""

    svc: Services
    conn: ResumableConnection
    actor: Actor  # with the role they have now (``Hub.current_role``)
    frame_id: FrameId
    typing: TypingThrottle  # this connection's

    @property
    def db(self) -> Database:
        return self.svc.db

    @property
    def settings(self) -> Settings:
        return self.svc.settings


Handler = Callable[[FrameContext, Any], Awaitable[Ack | None]]


async def ping(ctx: FrameContext, frame: PingFrame) -> Ack:
    return {"pong": True}


async def resume(ctx: FrameContext, frame: ResumeFrame) -> None:
    """Hold live delivery, replay the log after ``after``, answer ``resumed``, release."""
    ctx.conn.hold()
    last = await replay(ctx.svc, ctx.conn, ctx.actor, frame.after)
    ctx.conn.send_now(protocol.resumed(last, ctx.frame_id))
    ctx.conn.release(last)
    return None


async def typing(ctx: FrameContext, frame: TypingFrame) -> Ack:
    conversation, topic, actor = frame.conversation, frame.topic, ctx.actor
    # within the interval of one that went out: acked, not checked again, not sent on
    if not ctx.typing.allows(conversation, topic, now=asyncio.get_running_loop().time()):
        return {}
    try:
        async with ctx.db.read() as session:
            access = await policy.access_conversation(session, actor, conversation)
            policy.require("post", actor, access.facts(actor))
    except ChatError:
        ctx.typing.forget(conversation, topic)
        raise
    payload = {"type": "typing", "conversation": conversation, "topic": topic, "user": actor.id}
    await ctx.svc.hub.send_ephemeral(conversation, payload, except_user=actor.id)
    return {}


async def post(ctx: FrameContext, frame: PostFrame) -> Ack:
    ctx.svc.post_limiter.hit(str(ctx.actor.id))
    cmd = PostMessage(body=frame.body, nonce=frame.nonce, topic=frame.topic or "", attachments=frame.attachments)
    posted = await ctx.db.write(
        lambda session: messages.post_message(
            session, ctx.actor, frame.conversation, cmd, max_chars=ctx.settings.max_message_chars, defaults=ctx.settings
        )
    )
    return {"message": posted.message, "created": posted.created}


async def edit(ctx: FrameContext, frame: EditFrame) -> Ack:
    async def run(session: AsyncSession) -> MessageOut:
        window = (await workspace.load(session, ctx.settings)).edit_window_s
        cmd, max_chars = EditMessage(body=frame.body), ctx.settings.max_message_chars
        return await messages.edit_message(
            session, ctx.actor, frame.message, cmd, max_chars=max_chars, edit_window_s=window
        )

    return {"message": await ctx.db.write(run)}


async def delete(ctx: FrameContext, frame: DeleteFrame) -> Ack:
    async def run(session: AsyncSession) -> MessageOut:
        window = (await workspace.load(session, ctx.settings)).delete_window_s
        cmd = DeleteMessage(reason=frame.reason or "")
        return await messages.delete_message(session, ctx.actor, frame.message, cmd, delete_window_s=window)

    return {"message": await ctx.db.write(run)}


async def react(ctx: FrameContext, frame: ReactFrame) -> Ack:
    changed = await ctx.db.write(lambda session: messages.react(session, ctx.actor, frame.message, frame.emoji))
    return {"reaction": changed}


async def unreact(ctx: FrameContext, frame: ReactFrame) -> Ack:
    changed = await ctx.db.write(lambda session: messages.unreact(session, ctx.actor, frame.message, frame.emoji))
    return {"reaction": changed}


async def read(ctx: FrameContext, frame: ReadFrame) -> Ack:
    cmd = MarkRead(up_to_message_id=frame.up_to_message_id, topic=frame.topic)
    result = await ctx.db.write(lambda session: reads.mark_read(session, ctx.actor, frame.conversation, cmd))
    return {"read": result}


HANDLERS: dict[str, Handler] = {
    "ping": ping,
    "resume": resume,
    "typing": typing,
    "post": post,
    "edit": edit,
    "delete": delete,
    "react": react,
    "unreact": unreact,
    "read": read,
}


async def replay(svc: Services, conn: ResumableConnection, actor: Actor, after: int) -> int:
    """Queue every event ``actor`` may see after ``after``; returns the new cursor.

    A replay longer than the connection's queue waits for the client to read: one
    that takes nothing for two heartbeats is closed as a slow consumer."""
    cursor = after
    while True:
        async with svc.db.read() as session:
            page = await events_since(session, actor, cursor, RESUME_PAGE)
        for event in page.events:
            if conn.is_full() and not await conn.room(within_s=svc.settings.heartbeat_s * 2):
                return cursor
            if not conn.send_now(event_frame(event)):
                return cursor
        cursor = page.last_event_id
        if not page.has_more:
            return cursor
