"""What each client frame does: parse is done, now one domain call and an ack.

Each handler takes the services, the actor and the parsed frame command and
returns the ack's fields. Domain errors (``ChatError``) become error frames in
``chat.web.socket``; nothing here touches the socket.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from chat.channels import messages, reads
from chat.channels.message_commands import DeleteMessage, EditMessage, MarkRead, PostMessage
from chat.channels.policy import Actor
from chat.web.protocol import DeleteFrame, EditFrame, PostFrame, ReactFrame, ReadFrame
from chat.web.state import Services

Handler = Callable[[Services, Actor, Any], Awaitable[dict[str, Any]]]


async def post(svc: Services, actor: Actor, frame: PostFrame) -> dict[str, Any]:
    cmd = PostMessage(body=frame.body, nonce=frame.nonce, topic=frame.topic or "")
    async with svc.db.transaction() as session:
        posted = await messages.post_message(
            session, actor, frame.conversation, cmd, max_chars=svc.settings.max_message_chars
        )
    return {"message": posted.message, "created": posted.created}


async def edit(svc: Services, actor: Actor, frame: EditFrame) -> dict[str, Any]:
    async with svc.db.transaction() as session:
        message = await messages.edit_message(
            session, actor, frame.message, EditMessage(body=frame.body), max_chars=svc.settings.max_message_chars
        )
    return {"message": message}


async def delete(svc: Services, actor: Actor, frame: DeleteFrame) -> dict[str, Any]:
    async with svc.db.transaction() as session:
        message = await messages.delete_message(session, actor, frame.message, DeleteMessage(reason=frame.reason or ""))
    return {"message": message}


async def react(svc: Services, actor: Actor, frame: ReactFrame) -> dict[str, Any]:
    async with svc.db.transaction() as session:
        changed = await messages.react(session, actor, frame.message, frame.emoji)
    return {"reaction": changed}


async def unreact(svc: Services, actor: Actor, frame: ReactFrame) -> dict[str, Any]:
    async with svc.db.transaction() as session:
        changed = await messages.unreact(session, actor, frame.message, frame.emoji)
    return {"reaction": changed}


async def read(svc: Services, actor: Actor, frame: ReadFrame) -> dict[str, Any]:
    cmd = MarkRead(up_to_message_id=frame.up_to_message_id, topic=frame.topic)
    async with svc.db.transaction() as session:
        result = await reads.mark_read(session, actor, frame.conversation, cmd)
    return {"read": result}


HANDLERS: dict[str, Handler] = {
    "post": post,
    "edit": edit,
    "delete": delete,
    "react": react,
    "unreact": unreact,
    "read": read,
}
