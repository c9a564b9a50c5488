"""Alembic environment: runs on the connection that ``chat.store.migrate`` hands over."""

from __future__ import annotations

from alembic import context

from chat.store.models import Base

config = context.config
target_metadata = Base.metadata


# Search objects made by migration 0002 with raw SQL, unknown to the models.
_SEARCH_OBJECTS = ("messages_fts", "ix_messages_search")


def include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    return not (name or "").startswith(_SEARCH_OBJECTS)


def run_migrations_online() -> None:
    connection = config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():  # pragma: no cover - we never generate SQL scripts offline
    raise SystemExit("offline migrations are not supported; run `chat migrate`")
run_migrations_online()
