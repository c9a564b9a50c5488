"""Policy rules for messages and topics, waiting to be merged into ``chat.channels.policy``.

Pure functions over already-loaded facts, in the style of ``policy.py``; once
merged, ``chat.channels.messages`` and ``chat.channels.topics`` import them from
there. The rules:

* **Edit** a message: only its author, while a member of a conversation that is
  not archived (editing is posting again).
* **Delete** a message: its author (as for editing), or a moderator / admin who
  can see the conversation (``can_moderate``), even when it is archived:
  takedowns must stay possible.
* **React**: whoever may post (members, not archived).
* **Resolve / unresolve** a topic: whoever may post in the conversation (Zulip's
  default: anyone).
* **Rename** a topic (inside its conversation): moderators and admins, and the
  topic's participants (who wrote at least one message in it), if they may
  post there; never guests unless they are staff (they are not).
* **Move** messages to another conversation: the actor must be able to post in
  both; moderators and admins may move anything, others only messages that are
  all their own. Moving someone else's words into a group their readers cannot
  see is a moderation act.
* Direct conversations have no topics: nothing to rename, resolve or move.
"""

from __future__ import annotations

from chat.channels.policy import Actor, Facts, Kind, can_moderate, can_post


def can_edit_message(actor: Actor, is_author: bool, kind: Kind, is_member: bool, archived: bool) -> bool:
    return is_author and can_post(actor, kind, is_member, archived)


def can_delete_message(actor: Actor, is_author: bool, kind: Kind, is_member: bool, archived: bool) -> bool:
    if can_edit_message(actor, is_author, kind, is_member, archived):
        return True
    return can_moderate(actor, kind, is_member)


def can_react(actor: Actor, kind: Kind, is_member: bool, archived: bool) -> bool:
    return can_post(actor, kind, is_member, archived)


def can_resolve_topic(actor: Actor, kind: Kind, is_member: bool, archived: bool) -> bool:
    return kind != "direct" and can_post(actor, kind, is_member, archived)


def can_rename_topic(actor: Actor, kind: Kind, is_member: bool, archived: bool, is_participant: bool) -> bool:
    if kind == "direct" or actor.is_guest or not can_post(actor, kind, is_member, archived):
        return False
    return actor.is_staff or is_participant


def can_move_topic(actor: Actor, source: Facts, target: Facts, moves_only_own: bool) -> bool:
    if "direct" in (source.kind, target.kind) or actor.is_guest:
        return False
    if not can_post(actor, source.kind, source.is_member, source.archived):
        return False
    if not can_post(actor, target.kind, target.is_member, target.archived):
        return False
    return actor.is_staff or moves_only_own
