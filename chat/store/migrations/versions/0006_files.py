"""files in messages: uploads and the messages that carry them

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 21:30:00

* ``uploads``: one row per uploaded file (uploader, sanitised name, size, the
  type sniffed from its bytes, sha256 of the content in the file store, image
  size or PDF page count, the thumbnail's sha256).
* ``message_attachments``: which messages carry which uploads, in order.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from chat.store.models import BigId, UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "uploads",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("uploader_id", BigId, nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("pages", sa.Integer(), nullable=True),
        sa.Column("thumbnail_sha256", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["uploader_id"], ["users.id"], name=op.f("fk_uploads_uploader_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_uploads")),
    )
    op.create_index(op.f("ix_uploads_sha256"), "uploads", ["sha256"], unique=False)
    op.create_index("ix_uploads_uploader_id_id", "uploads", ["uploader_id", "id"], unique=False)
    op.create_table(
        "message_attachments",
        sa.Column("message_id", BigId, nullable=False),
        sa.Column("upload_id", BigId, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_message_attachments_message_id_messages")
        ),
        sa.ForeignKeyConstraint(["upload_id"], ["uploads.id"], name=op.f("fk_message_attachments_upload_id_uploads")),
        sa.PrimaryKeyConstraint("message_id", "upload_id", name=op.f("pk_message_attachments")),
    )
    op.create_index(op.f("ix_message_attachments_upload_id"), "message_attachments", ["upload_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_message_attachments_upload_id"), table_name="message_attachments")
    op.drop_table("message_attachments")
    op.drop_index("ix_uploads_uploader_id_id", table_name="uploads")
    op.drop_index(op.f("ix_uploads_sha256"), table_name="uploads")
    op.drop_table("uploads")
