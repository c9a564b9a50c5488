"""full-text search over messages

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 10:00:00

SQLite: an FTS5 table ``messages_fts`` over ``messages`` (external content:
it stores only the index, the text stays in ``messages``), kept in sync by
triggers. Messages are UPDATEd (edits, tombstones, topic renames and moves),
so the update trigger removes the old row's index entry and adds the new
one; it fires only when ``body`` or ``topic`` change. The tokenizer folds case
and diacritics (``unicode61 remove_diacritics 2``).

PostgreSQL: a GIN expression index ``ix_messages_search`` on
``to_tsvector('simple', topic || ' ' || body)``; ``chat.channels.search``
queries with exactly the same expression so the planner uses it. No column
is added, so the models stay the schema.

Both objects are invisible to the models: a schema comparison (alembic
``compare_metadata``) must skip tables named ``messages_fts*`` and the index
``ix_messages_search``.

Caution for later migrations: a SQLite ``batch_alter_table("messages")``
rebuilds the table and drops its triggers; such a migration must re-create
the three triggers below (and run the ``rebuild`` command).
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SQLITE_UPGRADE = (
    """
    CREATE VIRTUAL TABLE messages_fts USING fts5(
        body, topic,
        content='messages', content_rowid='id',
        tokenize='unicode61 remove_diacritics 2'
    )
    """,
    """
    CREATE TRIGGER messages_fts_ai AFTER INSERT ON messages BEGIN
        INSERT INTO messages_fts(rowid, body, topic) VALUES (new.id, new.body, new.topic);
    END
    """,
    """
    CREATE TRIGGER messages_fts_ad AFTER DELETE ON messages BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, body, topic) VALUES ('delete', old.id, old.body, old.topic);
    END
    """,
    """
    CREATE TRIGGER messages_fts_au AFTER UPDATE OF body, topic ON messages BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, body, topic) VALUES ('delete', old.id, old.body, old.topic);
        INSERT INTO messages_fts(rowid, body, topic) VALUES (new.id, new.body, new.topic);
    END
    """,
    # index the messages that already exist
    "INSERT INTO messages_fts(messages_fts) VALUES ('rebuild')",
)

SQLITE_DOWNGRADE = (
    "DROP TRIGGER IF EXISTS messages_fts_au",
    "DROP TRIGGER IF EXISTS messages_fts_ad",
    "DROP TRIGGER IF EXISTS messages_fts_ai",
    "DROP TABLE IF EXISTS messages_fts",
)

PG_UPGRADE = (
    "CREATE INDEX ix_messages_search ON messages USING gin (to_tsvector('simple'::regconfig, topic || ' ' || body))",
)

PG_DOWNGRADE = ("DROP INDEX IF EXISTS ix_messages_search",)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    statements = SQLITE_UPGRADE if dialect == "sqlite" else PG_UPGRADE if dialect == "postgresql" else ()
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    statements = SQLITE_DOWNGRADE if dialect == "sqlite" else PG_DOWNGRADE if dialect == "postgresql" else ()
    for statement in statements:
        op.execute(statement)
