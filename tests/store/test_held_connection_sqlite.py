"""The held writer connection on SQLite begins and ends its transactions on the driver: whatever
a write sends, raw to the driver or through SQLAlchemy (a savepoint included), is one
transaction, committed together or rolled back together."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.engine import Connection

from creditkit.store.database import Database, HeldConnection
from creditkit.store.tables import from_epoch_microseconds, to_epoch_microseconds


class Refused(Exception):
    pass


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'held.db'}")
    with database.engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE notes (text TEXT NOT NULL)")
    yield database
    database.dispose()


def _texts(database: Database) -> list[str]:
    with database.read() as connection:
        return [row[0] for row in connection.exec_driver_sql("SELECT text FROM notes ORDER BY 1")]


def _raw(connection: Connection, text: str) -> None:
    driver: Any = connection.connection.driver_connection
    driver.execute("INSERT INTO notes (text) VALUES (?)", (text,))


def _through_sqlalchemy(connection: Connection, text: str) -> None:
    connection.execute(sa.text("INSERT INTO notes (text) VALUES (:text)"), {"text": text})


def test_raw_and_sqlalchemy_writes_commit_together(database: Database) -> None:
    held = database.held()

    def work(connection: Connection) -> None:
        _raw(connection, "a")
        _through_sqlalchemy(connection, "b")
        savepoint = connection.begin_nested()
        _raw(connection, "c")
        savepoint.rollback()
        _raw(connection, "d")

    held.write(work)
    held.write(lambda connection: _raw(connection, "e"))  # a raw write alone, next
    held.close()
    assert _texts(database) == ["a", "b", "d", "e"]


@pytest.mark.parametrize("through_sqlalchemy", [False, True])
def test_a_failed_write_leaves_nothing(database: Database, through_sqlalchemy: bool) -> None:
    held: HeldConnection = database.held()

    def work(connection: Connection) -> None:
        _raw(connection, "raw")
        if through_sqlalchemy:
            _through_sqlalchemy(connection, "sqlalchemy")
        raise Refused

    with pytest.raises(Refused):
        held.write(work)
    held.write(lambda connection: _raw(connection, "after"))  # the connection is usable again
    held.close()
    assert _texts(database) == ["after"]


@given(
    st.datetimes(
        timezones=st.just(UTC), min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)
    )
)
def test_epoch_microseconds_round_trip(moment: datetime) -> None:
    stored = to_epoch_microseconds(moment)
    assert from_epoch_microseconds(stored) == moment
    assert from_epoch_microseconds(stored).tzinfo is UTC
    assert from_epoch_microseconds(stored + 1) - moment == timedelta(microseconds=1)
