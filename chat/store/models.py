"""SQLAlchemy 2 typed models: columns and constraints, no behaviour.

The same schema runs on SQLite and PostgreSQL; Alembic migrations in
``chat/store/migrations`` create it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# A big integer on PostgreSQL, SQLite's rowid alias on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), dict[str, Any]: JSON()}


# --- accounts -----------------------------------------------------------------


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(40), unique=True)  # stored lower case
    display_name: Mapped[str] = mapped_column(String(80))
    # how the names look (chat.channels.names.confusable_key): a new name confusable with
    # another user's username or display name is refused with one indexed query
    username_skeleton: Mapped[str] = mapped_column(String(400), index=True)
    display_skeleton: Mapped[str] = mapped_column(String(400), index=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))  # None for bots
    role: Mapped[str] = mapped_column(String(16))  # admin | moderator | member | guest
    is_bot: Mapped[bool] = mapped_column(Boolean, default=False)
    bot_owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    email: Mapped[str | None] = mapped_column(String(254))
    email_verified_at: Mapped[datetime | None]  # a confirmation link proved ``email`` (chat.accounts.emails)
    # the verified address, lower case: who a mail comes from; NULL until verified (unique among verified)
    email_key: Mapped[str | None] = mapped_column(String(254), unique=True, index=True)
    preferences: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # chat.accounts.notification_prefs: delay, digest, quiet hours, pause, push (absent keys: defaults)
    notification_settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    muted_until: Mapped[datetime | None]  # a moderator's mute: no posting anywhere until then
    legal_hold: Mapped[bool] = mapped_column(Boolean, default=False)  # suspends purges of their messages
    erased_at: Mapped[datetime | None]  # personal data erased (name pseudonymised, bodies redacted)


class WebSession(Base):
    """A server-side login session; the cookie holds a secret whose hash is ``id``."""

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex of the cookie secret
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    address: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(255), default="")


class ApiToken(Base):
    """A personal access token or a bot token; only its hash is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # first characters, to recognise a token in lists
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class Invitation(Base):
    """An invitation to register: a member, or a guest invited to some conversations."""

    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    role: Mapped[str] = mapped_column(String(16))  # member | guest
    conversation_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    email: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # the last account registered with it
    used_at: Mapped[datetime | None]
    single_use: Mapped[bool] = mapped_column(Boolean, default=True)  # False: a link reusable until it expires
    use_count: Mapped[int] = mapped_column(Integer, default=0)
    revoked_at: Mapped[datetime | None]


# --- conversations ----------------------------------------------------------------


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (
        # a public channel's name is unique among public channels only: a private
        # group's name must not be discoverable by trying to create a channel with it
        Index(
            "uq_conversations_public_name_key",
            "name_key",
            unique=True,
            sqlite_where=text("kind = 'public'"),
            postgresql_where=text("kind = 'public'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(10))  # public | private | direct
    name: Mapped[str | None] = mapped_column(String(80))
    # case-folded name; NULL for direct conversations
    name_key: Mapped[str | None] = mapped_column(String(80), index=True)
    # how the name looks (chat.channels.names.confusable_key); NULL for direct conversations
    name_skeleton: Mapped[str | None] = mapped_column(String(400), index=True)
    # sorted member ids, unique among direct conversations; NULL for channels and groups
    direct_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(String(1000), default="")
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    # who manages it now (starts as created_by; an admin may transfer it)
    owner_id: Mapped[int | None] = mapped_column(BigInteger)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)  # new users join it on registration
    retention_days: Mapped[int | None] = mapped_column(Integer)  # None: the workspace's retention
    legal_hold: Mapped[bool] = mapped_column(Boolean, default=False)  # suspends purges here
    # its mail address is c.<mail_token>@CHAT_MAIL_DOMAIN (chat.mail.addresses); None: no address
    mail_token: Mapped[str | None] = mapped_column(String(40), unique=True, index=True)
    mail_outside_senders: Mapped[bool] = mapped_column(Boolean, default=False)  # non-users may mail it


class Membership(Base):
    __tablename__ = "memberships"

    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)
    starred: Mapped[bool] = mapped_column(Boolean, default=False)
    notify: Mapped[str | None] = mapped_column(String(10))  # all | mentions | nothing; None: by kind


# --- messages ---------------------------------------------------------------------


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("author_id", "nonce"),
        Index("ix_messages_conversation_topic_id", "conversation_id", "topic_key", "id"),
        Index("ix_messages_conversation_created_at", "conversation_id", "created_at"),  # retention, date exports
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    topic: Mapped[str] = mapped_column(String(60), default="")  # display form; "" in direct conversations
    topic_key: Mapped[str] = mapped_column(String(240), default="")  # case-folded, for matching
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    nonce: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    html: Mapped[str] = mapped_column(Text)
    mentions: Mapped[list[int]] = mapped_column(JSON, default=list)  # user ids mentioned
    wildcard_mention: Mapped[str] = mapped_column(String(8), default="")  # "" | all | topic
    has_link: Mapped[bool] = mapped_column(Boolean, default=False)
    has_meeting: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    edited_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]
    deleted_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    delete_reason: Mapped[str | None] = mapped_column(String(500))
    event_id: Mapped[int | None] = mapped_column(BigInteger)  # the message.posted event
    seq: Mapped[int | None] = mapped_column(BigInteger)
    redacted_at: Mapped[datetime | None]  # body erased by retention or a user's erasure (not a deletion)


class MessageRevision(Base):
    """Every version of a message body; the first is the original post."""

    __tablename__ = "message_revisions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), index=True)
    body: Mapped[str] = mapped_column(Text)
    topic: Mapped[str] = mapped_column(String(60), default="")
    conversation_id: Mapped[int] = mapped_column(BigInteger)
    editor_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Reaction(Base):
    __tablename__ = "reactions"

    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    emoji: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TopicState(Base):
    """Per-user topic preference: muted or followed (absent row: default)."""

    __tablename__ = "topic_states"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), primary_key=True)
    topic_key: Mapped[str] = mapped_column(String(240), primary_key=True)
    mode: Mapped[str] = mapped_column(String(10))  # muted | followed


class ReadMarker(Base):
    """What a user has read: everything up to ``last_read_id`` in one topic ("" = a whole DM)."""

    __tablename__ = "read_markers"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), primary_key=True)
    topic_key: Mapped[str] = mapped_column(String(240), primary_key=True)
    last_read_id: Mapped[int] = mapped_column(BigInteger)


# --- files -------------------------------------------------------------------------


class Upload(Base):
    """A file someone uploaded: its bytes live in the file store under ``sha256`` (shared by identical
    files); it belongs to its uploader until a message carries it (``MessageAttachment``)."""

    __tablename__ = "uploads"
    __table_args__ = (Index("ix_uploads_uploader_id_id", "uploader_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    uploader_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(255))  # sanitised, shown as uploaded
    size: Mapped[int] = mapped_column(BigInteger)
    content_type: Mapped[str] = mapped_column(String(100))  # sniffed from the bytes, never the client's
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    width: Mapped[int | None] = mapped_column(Integer)  # images
    height: Mapped[int | None] = mapped_column(Integer)
    pages: Mapped[int | None] = mapped_column(Integer)  # PDFs
    thumbnail_sha256: Mapped[str | None] = mapped_column(String(64))  # a re-encoded preview, in the same store


class MessageAttachment(Base):
    """An upload carried by a message, in the order the author attached them."""

    __tablename__ = "message_attachments"

    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), primary_key=True)
    upload_id: Mapped[int] = mapped_column(ForeignKey("uploads.id"), primary_key=True, index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)


# --- moderation and workspace ------------------------------------------------------


class Report(Base):
    """A member's report of a message, waiting in the moderators' queue until resolved."""

    __tablename__ = "reports"
    __table_args__ = (Index("ix_reports_resolved_at_id", "resolved_at", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), index=True)
    conversation_id: Mapped[int] = mapped_column(BigInteger)  # where the message was when reported
    reporter_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str | None] = mapped_column(String(16))  # dismiss | delete | mute | remove | deactivate
    note: Mapped[str] = mapped_column(String(500), default="")


class WorkspaceSetting(Base):
    """One workspace setting changed by an admin; absent keys take their ``CHAT_*`` default."""

    __tablename__ = "workspace_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[int | None] = mapped_column(BigInteger)


# --- mail and push -----------------------------------------------------------------


class EmailConfirmation(Base):
    """A link sent to prove an address: the mail holds a secret whose hash is ``token_hash``."""

    __tablename__ = "email_confirmations"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class PendingNotification(Base):
    """Messages a user has not read yet, to mail once ``due_at`` passes (one row per conversation)."""

    __tablename__ = "pending_notifications"
    __table_args__ = (UniqueConstraint("user_id", "conversation_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    first_message_id: Mapped[int] = mapped_column(BigInteger)
    last_message_id: Mapped[int] = mapped_column(BigInteger)
    due_at: Mapped[datetime] = mapped_column(index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DigestLog(Base):
    """When a user's daily digest was last sent (at most one per local day)."""

    __tablename__ = "digest_log"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    last_sent_at: Mapped[datetime]


class MailThread(Base):
    """A ``Message-ID`` Salon sent or received, and the topic it belongs to: replies thread by it."""

    __tablename__ = "mail_threads"

    message_id_header: Mapped[str] = mapped_column(String(255), primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    topic_key: Mapped[str] = mapped_column(String(240))
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PushSubscription(Base):
    """A browser's Web Push subscription (its ``PushSubscription`` JSON), owned by one user."""

    __tablename__ = "push_subscriptions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    endpoint: Mapped[str] = mapped_column(String(1000), unique=True)
    p256dh: Mapped[str] = mapped_column(String(200))
    auth: Mapped[str] = mapped_column(String(100))
    user_agent: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]


class ServerSecret(Base):
    """A secret the server made for itself on first use (reply-address key, VAPID key pair)."""

    __tablename__ = "server_secrets"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WorkerCursor(Base):
    """How far a background worker has read the event log (e.g. the notifier)."""

    __tablename__ = "worker_cursors"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    event_id: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- the event log ------------------------------------------------------------------


class Event(Base):
    """One append-only row per state change (DESIGN.md, "The event log is the spine").

    ``chain`` names the hash chain the row belongs to: ``c<conversation id>`` for a
    conversation, ``system`` for account-level and admin events. ``seq`` is
    gap-free within a chain. ``hash = H(prev_hash || canonical(row without body) || body_digest)``,
    so ``body`` can be erased (``redacted``) and the chain still verifies.
    ``audience`` says who may read an event without a conversation:
    ``members`` (conversation events), ``everyone`` (non-guests), ``staff``
    (admins and moderators), ``subject`` (only ``subject_id``).
    """

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("chain", "seq"),
        # the events feed (chat.channels.feed) reads one id range per source of visibility
        Index("ix_events_conversation_id_id", "conversation_id", "id"),
        Index("ix_events_subject_id_id", "subject_id", "id"),
        Index("ix_events_audience_id", "audience", "id"),
        Index("ix_events_actor_id_id", "actor_id", "id"),  # the audit log filtered by actor
        Index("ix_events_created_at", "created_at"),  # … and by date
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    chain: Mapped[str] = mapped_column(String(24))
    seq: Mapped[int] = mapped_column(BigInteger)
    conversation_id: Mapped[int | None] = mapped_column(BigInteger)
    actor_id: Mapped[int | None] = mapped_column(BigInteger)
    subject_id: Mapped[int | None] = mapped_column(BigInteger)
    # the message an event is about, if any: events of a message moved into a
    # conversation the reader cannot see are hidden from that reader
    message_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    audience: Mapped[str] = mapped_column(String(10))
    kind: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    body: Mapped[str | None] = mapped_column(Text)
    body_digest: Mapped[str] = mapped_column(String(64))
    redacted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
