"""Every write takes one unit of work: ``Database.unit_of_work`` hands a write that locks no
customer the same ``UnitOfWork`` the ledger's locked writes get, its moment read from the clock
at each attempt; and no code outside the store hands a write a bare connection."""

from __future__ import annotations

import ast
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

import creditkit
from creditkit.clock import ManualClock
from creditkit.store.database import Database
from creditkit.store.unit_of_work import UnitOfWork

SOURCE = Path(creditkit.__file__).parent
START = datetime(2026, 3, 1, tzinfo=UTC)
#: Where a bare-connection write is the ledger's own: the transaction its locked writes and
#: sweeps begin in, before they lock the customers their unit of work then holds.
LOCKING_WRITES = frozenset({SOURCE / "ledger" / "timeline.py"})


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'unit.db'}")
    with database.engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE notes (text TEXT NOT NULL, at TEXT NOT NULL)")
    yield database
    database.dispose()


def _notes(database: Database) -> list[tuple[str, str]]:
    with database.read() as connection:
        return [tuple(row) for row in connection.exec_driver_sql("SELECT text, at FROM notes")]


def _note(context: UnitOfWork, text: str) -> None:
    context.connection.execute(
        sa.text("INSERT INTO notes (text, at) VALUES (:text, :at)"),
        {"text": text, "at": context.now.isoformat()},
    )


def test_a_unit_of_work_commits_at_the_clocks_moment_and_holds_no_customer(
    database: Database,
) -> None:
    seen: list[UnitOfWork] = []

    def work(context: UnitOfWork) -> str:
        seen.append(context)
        _note(context, "kept")
        return "done"

    assert database.unit_of_work(ManualClock(START), work) == "done"
    assert _notes(database) == [("kept", START.isoformat())]
    assert [(context.customers, context.replay) for context in seen] == [({}, False)]


def test_a_write_that_raises_leaves_nothing(database: Database) -> None:
    def work(context: UnitOfWork) -> None:
        _note(context, "dropped")
        raise ValueError("refused")

    with pytest.raises(ValueError, match="refused"):
        database.unit_of_work(ManualClock(START), work)
    assert _notes(database) == []


def test_a_retried_attempt_acts_at_its_own_moment(database: Database) -> None:
    """A lock conflict reruns the whole write; the rerun reads the clock again, as the ledger's
    writes do, instead of acting at the moment of a transaction that rolled back."""
    clock = ManualClock(START)
    moments: list[datetime] = []

    def work(context: UnitOfWork) -> None:
        moments.append(context.now)
        _note(context, f"try {len(moments)}")
        if len(moments) == 1:
            clock.advance(seconds=1)
            raise sqlite3.OperationalError("database is locked")

    database.unit_of_work(clock, work)
    assert moments == [START, START + timedelta(seconds=1)]
    assert _notes(database) == [("try 2", (START + timedelta(seconds=1)).isoformat())]


def _bare_writes_in(path: Path) -> list[int]:
    """Lines that call ``write`` on something named ``database`` (``self._database.write``,
    ``kit.database.write``): a write handed a connection, not a unit of work."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if node.func.attr != "write":
            continue
        owner = node.func.value
        name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", "")
        if name.lstrip("_") == "database":
            found.append(node.lineno)
    return found


def test_the_finder_sees_a_bare_write(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "self._database.write(work)\n"
        "kit.database.write(lambda c: c)\n"
        "database.write(work)\n"
        "stream.write('x')\n"
        "self._database.unit_of_work(clock, work)\n"
    )
    assert _bare_writes_in(sample) == [1, 2, 3]


def test_no_write_outside_the_store_takes_a_bare_connection() -> None:
    store = SOURCE / "store"
    found = [
        f"{path.relative_to(SOURCE.parent)}:{line}"
        for path in sorted(SOURCE.rglob("*.py"))
        if store not in path.parents and path not in LOCKING_WRITES
        for line in _bare_writes_in(path)
    ]
    assert found == []
