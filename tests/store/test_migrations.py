"""The migrations and ``store/tables.py`` describe the same schema, on both databases."""

from collections.abc import Callable
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from creditkit import CreditKit
from creditkit.store.database import Database
from creditkit.store.migrate import upgrade_to_head
from creditkit.store.tables import metadata


def _made_on(dialect: str) -> Callable[[Any, str | None, str, bool, Any], bool]:
    """Alembic's ``include_object``: leaves out what the tables module makes only on another
    database (``ddl_if(dialect=...)``), which autogenerate does not read itself."""

    def include(item: Any, _name: str | None, _kind: str, _reflected: bool, _other: Any) -> bool:
        condition = getattr(item, "_ddl_if", None)
        return condition is None or condition.dialect in (None, dialect)

    return include


def test_migrations_match_the_tables_module(database_url: str) -> None:
    database = Database(database_url)
    upgrade_to_head(database.engine)
    with database.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"include_object": _made_on(connection.dialect.name)}
        )
        assert compare_metadata(context, metadata) == []
    database.dispose()


def test_opening_twice_migrates_once_and_keeps_the_data(database_url: str) -> None:
    with CreditKit(database_url) as first:
        first.create_customer("u1")
        first.grant("u1", 10, idempotency_key="g1")
    with CreditKit(database_url) as second:
        assert second.balance("u1").available == 10
