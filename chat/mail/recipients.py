"""Who is told about a new message, and how: the notifier's rules as one pure function.

:func:`load_posts` reads, for a batch of ``message.posted`` events, the messages as they
are now (a message deleted or moved since is skipped or followed), their conversations,
members and muted topics, in four statements. :func:`decide` then applies the rules:

* never the author, a bot, a deactivated account;
* the member's level for the conversation (``memberships.notify``, else ``all`` for DMs
  and ``mentions`` for channels and groups): ``nothing`` tells nobody, ``mentions`` only
  a message naming them (``@all`` / ``@topic`` count), ``all`` every message;
* a muted topic tells only someone mentioned by name;
* **mail** (a ``pending_notifications`` row, sent once ``email_delay_s`` passed and still
  unread): only to a verified address, ``email_missed`` on, and a configured relay;
* **push**: a mention or a DM, ``push`` on, not paused or in quiet hours, and no Salon
  tab open (``is_online``).

Old news is not sent: see :data:`MAIL_STALE_AFTER` and :data:`PUSH_STALE_AFTER`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from chat.accounts.notification_prefs import Prefs, conversation_level, load, quiet_until
from chat.store import models

# A notifier that was down (or a relay configured only now) does not mail or push old news:
# a post is mailed only within a day after its delay ran out, pushed within the hour.
MAIL_STALE_AFTER = timedelta(days=1)
PUSH_STALE_AFTER = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Post:
    """A posted message as the notifier sees it (where it is now)."""

    event_id: int
    message_id: int
    conversation_id: int
    conversation_kind: str  # public | private | direct
    conversation_name: str  # "" for DMs
    topic: str
    topic_key: str
    author_id: int
    author_name: str
    mentions: frozenset[int]
    wildcard: bool
    html: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Member:
    user_id: int
    notify: str | None
    prefs: Prefs
    verified_email: str | None  # None: no address anybody proved


@dataclass(frozen=True, slots=True)
class Decision:
    user_id: int
    post: Post
    mail: bool
    push: bool
    delay_s: int


@dataclass(frozen=True, slots=True)
class Facts:
    posts: list[Post]
    members: dict[int, list[Member]]  # by conversation
    muted: frozenset[tuple[int, int, str]]  # (user, conversation, topic key)


async def load_posts(session: AsyncSession, message_ids: Sequence[tuple[int, int]]) -> Facts:
    """The facts for ``(event id, message id)`` pairs, oldest first."""
    if not message_ids:
        return Facts([], {}, frozenset())
    m, c, u = models.Message, models.Conversation, models.User
    event_of = dict((mid, eid) for eid, mid in message_ids)
    rows = (
        await session.execute(
            select(m, c.kind, c.name, u.display_name)
            .join(c, c.id == m.conversation_id)
            .join(u, u.id == m.author_id)
            .where(m.id.in_(list(event_of)), m.deleted_at.is_(None), m.redacted_at.is_(None))
            .order_by(m.id)
        )
    ).all()
    posts = [
        Post(
            event_id=event_of[row.id],
            message_id=row.id,
            conversation_id=row.conversation_id,
            conversation_kind=kind,
            conversation_name=name or "",
            topic=row.topic,
            topic_key=row.topic_key,
            author_id=row.author_id,
            author_name=author,
            mentions=frozenset(int(x) for x in row.mentions or ()),
            wildcard=bool(row.wildcard_mention),
            html=row.html,
            created_at=row.created_at,
        )
        for row, kind, name, author in rows
    ]
    conversations = sorted({p.conversation_id for p in posts})
    members: dict[int, list[Member]] = {cid: [] for cid in conversations}
    if conversations:
        ms = models.Membership
        found = await session.execute(
            select(ms.conversation_id, ms.user_id, ms.notify, u.notification_settings, u.email, u.email_verified_at)
            .join(u, u.id == ms.user_id)
            .where(ms.conversation_id.in_(conversations), u.active.is_(True), u.is_bot.is_(False))
        )
        for cid, uid, notify, settings, email, verified_at in found.all():
            address = email if email and verified_at is not None else None
            members[cid].append(Member(uid, notify, load(settings), address))
        ts = models.TopicState
        muted_rows = await session.execute(
            select(ts.user_id, ts.conversation_id, ts.topic_key).where(
                ts.conversation_id.in_(conversations), ts.mode == "muted"
            )
        )
        muted = frozenset((int(a), int(b), str(k)) for a, b, k in muted_rows.all())
    else:
        muted = frozenset()
    return Facts(posts, members, muted)


def wants(level: str, *, mentioned: bool, named: bool, muted: bool) -> bool:
    """Whether a member is told at all. ``named``: mentioned by name (not only ``@all``)."""
    if level == "nothing":
        return False
    if muted:
        return named
    return level == "all" or mentioned


def decide(
    facts: Facts, *, now: datetime, mail_enabled: bool, is_online: Callable[[int], bool], push_enabled: bool
) -> Iterable[Decision]:
    """Who is told about each post, by mail later and/or by push now (see the module docstring)."""
    for post in facts.posts:
        for member in facts.members.get(post.conversation_id, ()):
            if member.user_id == post.author_id:
                continue
            named = member.user_id in post.mentions
            mentioned = named or post.wildcard
            level = conversation_level(member.notify, post.conversation_kind)
            muted = (member.user_id, post.conversation_id, post.topic_key) in facts.muted
            if not wants(level, mentioned=mentioned, named=named, muted=muted):
                continue
            prefs = member.prefs
            late = now - post.created_at
            mail = (
                mail_enabled
                and prefs.email_missed
                and member.verified_email is not None
                and late < timedelta(seconds=prefs.email_delay_s) + MAIL_STALE_AFTER
            )
            push = (
                push_enabled
                and late < PUSH_STALE_AFTER
                and prefs.push
                and (mentioned or post.conversation_kind == "direct")
                and quiet_until(prefs, now) is None
                and not is_online(member.user_id)
            )
            if mail or push:
                yield Decision(member.user_id, post, mail=mail, push=push, delay_s=prefs.email_delay_s)
