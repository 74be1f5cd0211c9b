"""The migrations and ``store/tables.py`` describe the same schema, on both databases."""

from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from creditkit import CreditKit
from creditkit.store.database import Database
from creditkit.store.migrate import upgrade_to_head
from creditkit.store.tables import FOREIGN_KEYS_CHECKED_BY_TRIGGERS, metadata


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
    postgresql = database.engine.dialect.name == "postgresql"

    def include(item: Any, name: str | None, type_: str, reflected: bool, other: Any) -> bool:
        # PostgreSQL checks these keys in triggers (tests/store/test_database_integrity_postgres
        # proves they refuse what the constraints refused); every other difference counts.
        checked_by_triggers = (
            postgresql
            and type_ == "foreign_key_constraint"
            and name in FOREIGN_KEYS_CHECKED_BY_TRIGGERS
        )
        return not checked_by_triggers and made_here(item, name, type_, reflected, other)

    made_here = _made_on(database.engine.dialect.name)

    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"include_object": include})
        assert compare_metadata(context, metadata) == []
    database.dispose()


@pytest.mark.postgres
def test_postgresql_has_none_of_the_foreign_keys_its_triggers_check(postgres_url: str) -> None:
    """The keys the comparison above leaves out on PostgreSQL are really gone there (and so
    take no row locks), and SQLite's comparison still covers them."""
    database = Database(postgres_url)
    upgrade_to_head(database.engine)
    inspector = sa.inspect(database.engine)
    names = {
        key["name"]
        for table in ("entries", "transactions")
        for key in inspector.get_foreign_keys(table)
    }
    database.dispose()
    assert names & FOREIGN_KEYS_CHECKED_BY_TRIGGERS == set()
    assert "fk_transactions_customer_id" in names


def test_opening_twice_migrates_once_and_keeps_the_data(database_url: str) -> None:
    with CreditKit(database_url) as first:
        first.create_customer("u1")
        first.grant("u1", 10, idempotency_key="g1")
    with CreditKit(database_url) as second:
        assert second.balance("u1").available == 10
