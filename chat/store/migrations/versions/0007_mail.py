"""mail and push: verified addresses, notification settings, pending mails, threads, push subscriptions

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 23:40:00

* ``users``: ``email_verified_at``, ``email_key`` (the verified address, lower case, unique),
  ``notification_settings`` (JSON).
* ``memberships.notify``: a conversation's notification level (all | mentions | nothing).
* ``conversations``: ``mail_token`` (its inbound address), ``mail_outside_senders``.
* ``email_confirmations``, ``pending_notifications``, ``digest_log``, ``mail_threads``,
  ``push_subscriptions``, ``server_secrets``, ``worker_cursors``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from chat.store.models import BigId, UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ADD COLUMN (SQLite rebuilding ``users`` would trip the foreign keys that point at it);
    # uniqueness through unique indexes, which SQLite can add
    op.add_column("users", sa.Column("email_verified_at", UTCDateTime(timezone=True), nullable=True))
    op.add_column("users", sa.Column("email_key", sa.String(length=254), nullable=True))
    op.add_column("users", sa.Column("notification_settings", sa.JSON(), nullable=False, server_default="{}"))
    op.create_index(op.f("ix_users_email_key"), "users", ["email_key"], unique=True)
    op.add_column("memberships", sa.Column("notify", sa.String(length=10), nullable=True))
    op.add_column("conversations", sa.Column("mail_token", sa.String(length=40), nullable=True))
    op.add_column(
        "conversations", sa.Column("mail_outside_senders", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.create_index(op.f("ix_conversations_mail_token"), "conversations", ["mail_token"], unique=True)

    op.create_table(
        "email_confirmations",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_email_confirmations_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_email_confirmations")),
    )
    op.create_index(op.f("ix_email_confirmations_user_id"), "email_confirmations", ["user_id"], unique=False)
    op.create_table(
        "pending_notifications",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("conversation_id", BigId, nullable=False),
        sa.Column("first_message_id", sa.BigInteger(), nullable=False),
        sa.Column("last_message_id", sa.BigInteger(), nullable=False),
        sa.Column("due_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_pending_notifications_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_pending_notifications_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending_notifications")),
        sa.UniqueConstraint("user_id", "conversation_id", name=op.f("uq_pending_notifications_user_id_conversation_id")),
    )
    op.create_index(op.f("ix_pending_notifications_due_at"), "pending_notifications", ["due_at"], unique=False)
    op.create_table(
        "digest_log",
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("last_sent_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_digest_log_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_digest_log")),
    )
    op.create_table(
        "mail_threads",
        sa.Column("message_id_header", sa.String(length=255), nullable=False),
        sa.Column("conversation_id", BigId, nullable=False),
        sa.Column("topic_key", sa.String(length=240), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_mail_threads_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("message_id_header", name=op.f("pk_mail_threads")),
    )
    op.create_index(op.f("ix_mail_threads_conversation_id"), "mail_threads", ["conversation_id"], unique=False)
    op.create_table(
        "push_subscriptions",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("endpoint", sa.String(length=1000), nullable=False),
        sa.Column("p256dh", sa.String(length=200), nullable=False),
        sa.Column("auth", sa.String(length=100), nullable=False),
        sa.Column("user_agent", sa.String(length=255), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_push_subscriptions_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_push_subscriptions")),
        sa.UniqueConstraint("endpoint", name=op.f("uq_push_subscriptions_endpoint")),
    )
    op.create_index(op.f("ix_push_subscriptions_user_id"), "push_subscriptions", ["user_id"], unique=False)
    op.create_table(
        "server_secrets",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_server_secrets")),
    )
    op.create_table(
        "worker_cursors",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_worker_cursors")),
    )


def downgrade() -> None:
    op.drop_table("worker_cursors")
    op.drop_table("server_secrets")
    op.drop_index(op.f("ix_push_subscriptions_user_id"), table_name="push_subscriptions")
    op.drop_table("push_subscriptions")
    op.drop_index(op.f("ix_mail_threads_conversation_id"), table_name="mail_threads")
    op.drop_table("mail_threads")
    op.drop_table("digest_log")
    op.drop_index(op.f("ix_pending_notifications_due_at"), table_name="pending_notifications")
    op.drop_table("pending_notifications")
    op.drop_index(op.f("ix_email_confirmations_user_id"), table_name="email_confirmations")
    op.drop_table("email_confirmations")
    op.drop_index(op.f("ix_conversations_mail_token"), table_name="conversations")
    op.drop_index(op.f("ix_users_email_key"), table_name="users")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("mail_outside_senders")
        batch.drop_column("mail_token")
    with op.batch_alter_table("memberships") as batch:
        batch.drop_column("notify")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("notification_settings")
        batch.drop_column("email_key")
        batch.drop_column("email_verified_at")
