"""indexes for the events feed: one id range per source of visibility

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 16:30:00

``chat.channels.feed.events_since`` reads a ``UNION ALL`` of index range scans,
each ``… AND id > :after ORDER BY id LIMIT n``: the events of each conversation
of the reader (``ix_events_conversation_id_id``, already there), the events
whose subject is the reader, and the events for everyone or for staff.

* ``ix_events_subject_id`` (``subject_id``) becomes ``ix_events_subject_id_id``
  (``subject_id, id``): the same lookups, and the range in id order.
* ``ix_events_audience_id`` (``audience, id``) is new.
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_events_subject_id_id", "events", ["subject_id", "id"], unique=False)
    op.create_index("ix_events_audience_id", "events", ["audience", "id"], unique=False)
    op.drop_index("ix_events_subject_id", table_name="events")


def downgrade() -> None:
    op.create_index("ix_events_subject_id", "events", ["subject_id"], unique=False)
    op.drop_index("ix_events_audience_id", table_name="events")
    op.drop_index("ix_events_subject_id_id", table_name="events")
