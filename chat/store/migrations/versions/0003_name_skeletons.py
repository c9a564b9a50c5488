"""confusable-name keys; public channel names unique among public channels only

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 15:40:00

* ``users.username_skeleton`` and ``users.display_skeleton``, and
  ``conversations.name_skeleton`` (NULL for direct conversations): each name's
  ``chat.channels.names.confusable_key``, indexed, so a new name is checked
  against every existing one in one query. Existing rows get their keys here;
  old names that are confusable with each other stay as they are (the keys are
  not unique): only new names and renames are refused.
* ``conversations.name_key`` is no longer unique among all conversations but
  among public channels only (a partial unique index): a private group's name
  must not block, and so reveal itself to, someone creating a channel.

SQLite rebuilds both tables (``batch_alter_table``: a unique constraint
cannot be dropped otherwise). Neither has triggers. Other tables refer to
both, some with ``ON DELETE CASCADE``, and dropping a referenced table with
foreign keys on would empty those tables: the rebuild runs with foreign keys
off (SQLite ignores that pragma inside a transaction, so the transaction so far
is committed first), checks every reference afterwards (``foreign_key_check``)
and turns them back on.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op

from chat.channels.names import confusable_key

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_PUBLIC = sa.text("kind = 'public'")


def upgrade() -> None:
    with _sqlite_foreign_keys_off():
        _upgrade()


def downgrade() -> None:
    with _sqlite_foreign_keys_off():
        _downgrade()


@contextmanager
def _sqlite_foreign_keys_off() -> Iterator[None]:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        yield
        return
    raw = bind.connection.driver_connection
    if getattr(raw, "in_transaction", True):
        bind.exec_driver_sql("COMMIT")
    bind.exec_driver_sql("PRAGMA foreign_keys=OFF")
    bind.exec_driver_sql("BEGIN")
    try:
        yield
        broken = bind.exec_driver_sql("PRAGMA foreign_key_check").all()
        if broken:
            raise RuntimeError(f"migration 0003 would break foreign keys: {broken[:5]}")
        bind.exec_driver_sql("COMMIT")
    except BaseException:
        bind.exec_driver_sql("ROLLBACK")
        raise
    finally:
        bind.exec_driver_sql("PRAGMA foreign_keys=ON")
        bind.exec_driver_sql("BEGIN")  # the caller's transaction goes on (alembic records the revision in it)


def _upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("username_skeleton", sa.String(length=400), nullable=True))
        batch.add_column(sa.Column("display_skeleton", sa.String(length=400), nullable=True))
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("name_skeleton", sa.String(length=400), nullable=True))
    _fill_keys()
    with op.batch_alter_table("users") as batch:
        batch.alter_column("username_skeleton", existing_type=sa.String(length=400), nullable=False)
        batch.alter_column("display_skeleton", existing_type=sa.String(length=400), nullable=False)
        batch.create_index(batch.f("ix_users_username_skeleton"), ["username_skeleton"], unique=False)
        batch.create_index(batch.f("ix_users_display_skeleton"), ["display_skeleton"], unique=False)
    with op.batch_alter_table("conversations") as batch:
        batch.drop_constraint(batch.f("uq_conversations_name_key"), type_="unique")
        batch.create_index(batch.f("ix_conversations_name_key"), ["name_key"], unique=False)
        batch.create_index(batch.f("ix_conversations_name_skeleton"), ["name_skeleton"], unique=False)
        batch.create_index(
            "uq_conversations_public_name_key",
            ["name_key"],
            unique=True,
            sqlite_where=_PUBLIC,
            postgresql_where=_PUBLIC,
        )


def _fill_keys() -> None:
    bind = op.get_bind()
    users = sa.table("users", sa.column("id"), sa.column("username"), sa.column("display_name"),
                     sa.column("username_skeleton"), sa.column("display_skeleton"))  # fmt: skip
    for uid, username, display_name in bind.execute(sa.select(users.c.id, users.c.username, users.c.display_name)):
        bind.execute(
            users.update()
            .where(users.c.id == uid)
            .values(username_skeleton=confusable_key(username), display_skeleton=confusable_key(display_name))
        )
    conversations = sa.table("conversations", sa.column("id"), sa.column("name"), sa.column("name_skeleton"))
    named = sa.select(conversations.c.id, conversations.c.name).where(conversations.c.name.is_not(None))
    for cid, name in bind.execute(named):
        bind.execute(conversations.update().where(conversations.c.id == cid).values(name_skeleton=confusable_key(name)))


def _downgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.drop_index("uq_conversations_public_name_key")
        batch.drop_index(batch.f("ix_conversations_name_skeleton"))
        batch.drop_index(batch.f("ix_conversations_name_key"))
        batch.create_unique_constraint(batch.f("uq_conversations_name_key"), ["name_key"])
        batch.drop_column("name_skeleton")
    with op.batch_alter_table("users") as batch:
        batch.drop_index(batch.f("ix_users_display_skeleton"))
        batch.drop_index(batch.f("ix_users_username_skeleton"))
        batch.drop_column("display_skeleton")
        batch.drop_column("username_skeleton")
