"""The migrations and ``store/tables.py`` describe the same schema, on both databases."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from creditkit import CreditKit
from creditkit.store.database import Database
from creditkit.store.migrate import upgrade_to_head
from creditkit.store.tables import metadata


def test_migrations_match_the_tables_module(database_url: str) -> None:
    database = Database(database_url)
    upgrade_to_head(database.engine)
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection)
        assert compare_metadata(context, metadata) == []
    database.dispose()


def test_opening_twice_migrates_once_and_keeps_the_data(database_url: str) -> None:
    with CreditKit(database_url) as first:
        first.create_customer("u1")
        first.grant("u1", 10, idempotency_key="g1")
    with CreditKit(database_url) as second:
        assert second.balance("u1").available == 10
