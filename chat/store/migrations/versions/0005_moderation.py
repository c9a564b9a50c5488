"""moderation, workspace settings, retention and legal hold, personal data

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 20:20:00

* ``reports``: members' reports of messages, the moderators' queue.
* ``workspace_settings``: settings an admin changed on the settings page or
  with ``PATCH /api/v1/settings``; a missing key takes its ``CHAT_*`` default.
* ``users``: ``muted_until`` (a moderator's mute), ``legal_hold``,
  ``erased_at`` (personal data erased).
* ``invitations``: ``single_use`` (false: a reusable link until it expires),
  ``use_count``, ``revoked_at``.
* ``conversations``: ``owner_id`` (who manages it; starts as ``created_by``,
  set here for existing rows), ``is_default`` (new users join it),
  ``retention_days`` and ``legal_hold``.
* ``messages.redacted_at``: the body was erased by retention or erasure.
* indexes: the audit log by actor and by date, messages by conversation and date.

Only columns and indexes are added: each new NOT NULL column gets a server
default for the existing rows.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from chat.store.models import BigId, UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_FALSE = sa.false()


def upgrade() -> None:
    op.create_table(
        "workspace_settings",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_workspace_settings")),
    )
    op.create_table(
        "reports",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("message_id", BigId, nullable=False),
        sa.Column("conversation_id", sa.BigInteger(), nullable=False),
        sa.Column("reporter_id", BigId, nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", BigId, nullable=True),
        sa.Column("action", sa.String(length=16), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"], name=op.f("fk_reports_message_id_messages")),
        sa.ForeignKeyConstraint(["reporter_id"], ["users.id"], name=op.f("fk_reports_reporter_id_users")),
        sa.ForeignKeyConstraint(["resolved_by"], ["users.id"], name=op.f("fk_reports_resolved_by_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reports")),
    )
    op.create_index(op.f("ix_reports_message_id"), "reports", ["message_id"], unique=False)
    op.create_index("ix_reports_resolved_at_id", "reports", ["resolved_at", "id"], unique=False)

    op.add_column("users", sa.Column("muted_until", UTCDateTime(timezone=True), nullable=True))
    op.add_column("users", sa.Column("legal_hold", sa.Boolean(), nullable=False, server_default=_FALSE))
    op.add_column("users", sa.Column("erased_at", UTCDateTime(timezone=True), nullable=True))

    op.add_column(
        "invitations", sa.Column("single_use", sa.Boolean(), nullable=False, server_default=sa.true())
    )
    op.add_column("invitations", sa.Column("use_count", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("invitations", sa.Column("revoked_at", UTCDateTime(timezone=True), nullable=True))
    op.execute("UPDATE invitations SET use_count = 1 WHERE used_by IS NOT NULL")

    op.add_column("conversations", sa.Column("owner_id", sa.BigInteger(), nullable=True))
    op.add_column("conversations", sa.Column("is_default", sa.Boolean(), nullable=False, server_default=_FALSE))
    op.add_column("conversations", sa.Column("retention_days", sa.Integer(), nullable=True))
    op.add_column("conversations", sa.Column("legal_hold", sa.Boolean(), nullable=False, server_default=_FALSE))
    op.execute("UPDATE conversations SET owner_id = created_by WHERE kind <> 'direct'")

    op.add_column("messages", sa.Column("redacted_at", UTCDateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_messages_conversation_created_at", "messages", ["conversation_id", "created_at"], unique=False
    )
    op.create_index("ix_events_actor_id_id", "events", ["actor_id", "id"], unique=False)
    op.create_index("ix_events_created_at", "events", ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_events_created_at", table_name="events")
    op.drop_index("ix_events_actor_id_id", table_name="events")
    op.drop_index("ix_messages_conversation_created_at", table_name="messages")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("redacted_at")
    with op.batch_alter_table("conversations") as batch:
        for column in ("legal_hold", "retention_days", "is_default", "owner_id"):
            batch.drop_column(column)
    with op.batch_alter_table("invitations") as batch:
        for column in ("revoked_at", "use_count", "single_use"):
            batch.drop_column(column)
    with op.batch_alter_table("users") as batch:
        for column in ("erased_at", "legal_hold", "muted_until"):
            batch.drop_column(column)
    op.drop_index("ix_reports_resolved_at_id", table_name="reports")
    op.drop_index(op.f("ix_reports_message_id"), table_name="reports")
    op.drop_table("reports")
    op.drop_table("workspace_settings")
