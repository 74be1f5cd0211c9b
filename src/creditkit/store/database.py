"""Connections, transactions and retries, for SQLite and PostgreSQL alike.

Every ledger write runs in ``Database.write``: one database transaction, retried a bounded number
of times when the database reports a lock conflict (a PostgreSQL deadlock or serialization
failure, a busy SQLite file). Nothing above this module knows which database it runs on except
through ``Database.dialect``.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from creditkit.errors import InvalidRequest, LedgerBusy
from creditkit.store.unit_of_work import UnitOfWork

T = TypeVar("T")

#: Bounded retries: a write that still conflicts after this many tries gives up with LedgerBusy
#: instead of spinning forever.
WRITE_ATTEMPTS_MAX = 32
RETRY_BACKOFF_SECONDS_MAX = 0.05
SQLITE_BUSY_TIMEOUT_MILLISECONDS = 30_000
POOL_SIZE = 16

#: PostgreSQL SQLSTATEs that mean "try the whole transaction again".
_RETRYABLE_SQLSTATES = frozenset({"40001", "40P01", "55P03"})
#: PostgreSQL SQLSTATEs (and classes) of a connection that died under a transaction: the server
#: shut down or terminated the backend (``pg_terminate_backend``), or the link failed. The
#: transaction rolled back with its connection, so it is run again on a fresh one; idempotency
#: keys make that safe even when the commit itself was lost in flight.
_CONNECTION_LOST_SQLSTATES = frozenset({"57P01", "57P02", "57P03"})
_CONNECTION_LOST_SQLSTATE_CLASS = "08"
#: A dropped connection is rerun at most this many times: a database that stays unreachable is
#: LedgerBusy (503 with Retry-After), not a loop.
CONNECTION_RETRIES_MAX = 3
_UNIQUE_VIOLATION_SQLSTATE = "23505"

#: SQLite's durability for the ledger. WAL with synchronous=FULL syncs the log on every commit,
#: so a committed charge survives power loss; NORMAL is faster but may lose the last commits on
#: power loss, which a ledger of paid credits must not. Benchmarks compare at this same setting.
SQLITE_SYNCHRONOUS = "FULL"

_READ_ONLY_OPTION = "creditkit_read_only"


def normalize_url(url: str) -> str:
    """Accepts the URLs people write (``postgresql://``, ``postgres://``) and picks the psycopg 3
    driver, the one creditkit supports."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


#: How several PostgreSQL hosts are written (a primary and its standby): libpq tries them in
#: order and keeps the first that accepts writes.
MULTI_HOST_FORM = (
    "postgresql://USER@/DATABASE?host=H1:PORT&host=H2:PORT&target_session_attrs=read-write"
)


def check_database_url(url: str) -> str:
    """The URL in the driver's form; ``InvalidRequest`` naming ``database_url`` for anything
    but SQLite or PostgreSQL (a bare file name: the ``sqlite:///`` it lacks), or a PostgreSQL URL
    that does not parse (libpq's ``h1:5432,h2:5433`` list in the host part, for one)."""
    url = normalize_url(url)
    if url.startswith(("sqlite:", "sqlite+pysqlite:")):
        return url
    if url.startswith("postgresql+psycopg://"):
        try:
            sa.make_url(url)
        except (sa.exc.ArgumentError, ValueError) as error:
            raise _unparsed(error) from error
        return url
    raise InvalidRequest(
        "database_url",
        f"{url!r} is not a database URL: use sqlite:///{url} for a SQLite file, or"
        " postgresql://USER@HOST/DATABASE",
    )


def _unparsed(error: Exception) -> InvalidRequest:
    return InvalidRequest(
        "database_url",
        f"not a PostgreSQL URL ({error}); one host: postgresql://USER@HOST:PORT/DATABASE;"
        f" several: {MULTI_HOST_FORM}",
    )


def display_url(url: str) -> str:
    """``url`` as printed to a console or log: its password as ``***``."""
    try:
        shown = sa.make_url(normalize_url(url)).render_as_string(hide_password=True)
    except (sa.exc.ArgumentError, ValueError):
        return "(a database URL that does not parse)"
    # The hosts of a multi-host URL read as written (``host=h1:5432``), not escaped.
    return shown.replace("%3A", ":")


def create_engine(url: str) -> Engine:
    url = check_database_url(url)
    if url.startswith("sqlite"):
        return _create_sqlite_engine(url)
    try:
        return sa.create_engine(
            url, pool_size=POOL_SIZE, max_overflow=POOL_SIZE, pool_pre_ping=True
        )
    except sa.exc.ArgumentError as error:
        # The driver's reading of the query: two multi-host forms mixed, for one.
        raise _unparsed(error) from error


def _create_sqlite_engine(url: str) -> Engine:
    parsed = sa.make_url(url)
    if parsed.database in (None, "", ":memory:"):
        raise InvalidRequest(
            "database_url",
            "in-memory SQLite is not supported: each connection would see its own empty ledger;"
            " use a file, e.g. sqlite:///credits.db",
        )
    Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(
        url,
        connect_args={
            "timeout": SQLITE_BUSY_TIMEOUT_MILLISECONDS / 1000,
            "check_same_thread": False,
        },
        pool_size=POOL_SIZE,
        max_overflow=POOL_SIZE,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # The driver's own transaction handling is turned off so that ``begin`` below decides
        # how a transaction starts.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={SQLITE_SYNCHRONOUS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MILLISECONDS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # A write takes the lock at the start (IMMEDIATE): a transaction that read first and
        # wrote later could otherwise find the lock taken at its first write and fail without
        # waiting. A read starts a snapshot and takes no lock (DEFERRED).
        # Straight to the driver: this runs once per transaction, on the hot path.
        driver_connection: Any = connection.connection.driver_connection
        if driver_connection.in_transaction:
            # Begun already on the driver (``HeldConnection``): a statement sent through
            # SQLAlchemy joins that transaction, which SQLAlchemy then commits or rolls back.
            return
        if connection.get_execution_options().get(_READ_ONLY_OPTION):
            driver_connection.execute("BEGIN DEFERRED")
        else:
            driver_connection.execute("BEGIN IMMEDIATE")

    return engine


#: What a database error looks like: wrapped by SQLAlchemy, or straight from the driver (the hot
#: path's statements go to the driver's cursor, see store/flavor.py).
DATABASE_ERRORS = (DBAPIError, sqlite3.Error, psycopg.Error)


def driver_error(error: BaseException) -> BaseException:
    return error.orig if isinstance(error, DBAPIError) and error.orig is not None else error


def is_retryable(error: BaseException) -> bool:
    cause = driver_error(error)
    if getattr(cause, "sqlstate", None) in _RETRYABLE_SQLSTATES:
        return True
    return isinstance(cause, sqlite3.OperationalError) and "database is locked" in str(cause)


def is_connection_lost(error: BaseException) -> bool:
    """True when the transaction failed because its connection died (SQLSTATE class 08, an
    administrator's termination, or SQLAlchemy's own verdict that the connection is gone)."""
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    cause = driver_error(error)
    if not isinstance(cause, psycopg.OperationalError | psycopg.InterfaceError):
        return False
    sqlstate = getattr(cause, "sqlstate", None)
    if sqlstate is None:
        # libpq reports a link that failed mid-statement without a SQLSTATE.
        return True
    return sqlstate in _CONNECTION_LOST_SQLSTATES or sqlstate.startswith(
        _CONNECTION_LOST_SQLSTATE_CLASS
    )


def is_unique_violation(error: BaseException, table: str, column: str) -> bool:
    """True when ``error`` is the refusal of the unique index on ``table.column``: told by the
    error's code (SQLSTATE 23505 and the constraint's name on PostgreSQL, SQLITE_CONSTRAINT_UNIQUE
    and the index's columns on SQLite), never by the wording of a message."""
    cause = driver_error(error)
    if isinstance(cause, psycopg.IntegrityError):
        constraint = getattr(cause.diag, "constraint_name", None)
        return cause.sqlstate == _UNIQUE_VIOLATION_SQLSTATE and constraint == (
            f"uq_{table}_{column}"
        )
    if isinstance(cause, sqlite3.IntegrityError):
        if getattr(cause, "sqlite_errorcode", None) != sqlite3.SQLITE_CONSTRAINT_UNIQUE:
            return False
        # SQLite names no constraint, only the index's columns: "UNIQUE constraint failed:
        # transactions.idempotency_key". The column list is the part after the colon.
        _message, _separator, columns = str(cause).partition(": ")
        return [part.strip() for part in columns.split(",")] == [f"{table}.{column}"]
    return False


def _dialect_insert(connection: Connection, table: sa.Table) -> Any:
    """The connection's dialect's INSERT, which knows ``ON CONFLICT``."""
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def insert_ignoring_duplicates(connection: Connection, table: sa.Table) -> Any:
    """``INSERT … ON CONFLICT DO NOTHING``: a row that would break a unique index is skipped,
    not an error (so the transaction goes on)."""
    return _dialect_insert(connection, table).on_conflict_do_nothing()


def insert_once(connection: Connection, table: sa.Table, values: dict[str, Any]) -> bool:
    """Inserts the row unless its unique key is taken; True when it was inserted. A concurrent
    insert of the same key waits for the first to commit, then inserts nothing."""
    # RETURNING, not rowcount: a driver may not count a row it inserted with RETURNING implied.
    key = next(iter(table.primary_key.columns))
    inserted = connection.execute(
        insert_ignoring_duplicates(connection, table).values(**values).returning(key)
    )
    return inserted.first() is not None


class Database:
    """The ledger's database: an engine plus the transaction discipline every write follows."""

    def __init__(self, url: str) -> None:
        self.url = normalize_url(url)
        self.engine = create_engine(self.url)
        self.dialect: str = self.engine.dialect.name

    def write(self, work: Callable[[Connection], T]) -> T:
        """Runs ``work`` in one transaction, committed when it returns; retried from the start
        on lock conflicts. ``work`` must therefore only touch the database through its
        connection."""
        return self._write_retried(work, self.engine.begin)

    def unit_of_work(self, clock: Callable[[], datetime], work: Callable[[UnitOfWork], T]) -> T:
        """Runs ``work`` as ``write`` does, handed the unit of work every write takes: its
        transaction, and the moment read from ``clock`` at the start of each attempt (as the
        ledger's writes read theirs). It locks no customer: a write that changes what a customer
        holds goes through the ledger's ``locked_write`` instead."""

        def attempt(connection: Connection) -> T:
            return work(UnitOfWork(connection, clock(), {}, replay=False))

        return self.write(attempt)

    def held(self) -> HeldConnection:
        """A connection kept open between transactions, for one writer at a time (the
        coalescing writer's leader): no pool checkout and reset per write."""
        return HeldConnection(self)

    def _write_retried(self, work: Callable[[Connection], T], transaction: Callable[[], Any]) -> T:
        """``work`` in ``transaction()`` (a context manager yielding a connection in a begun
        transaction), rerun on lock conflicts and lost connections within their bounds."""
        connections_lost = 0
        for attempt in range(1, WRITE_ATTEMPTS_MAX + 1):
            try:
                with transaction() as connection:
                    return work(connection)
            except DATABASE_ERRORS as error:
                if is_connection_lost(error):
                    connections_lost += 1
                    if connections_lost > CONNECTION_RETRIES_MAX:
                        raise LedgerBusy(attempt, "lost connections") from error
                    # A fresh connection next (the dead one was invalidated).
                    continue
                if not is_retryable(error) or attempt == WRITE_ATTEMPTS_MAX:
                    if is_retryable(error):
                        raise LedgerBusy(attempt) from error
                    raise
                # Jittered backoff so that the conflicting writers do not collide again in step.
                time.sleep(
                    random.uniform(0, RETRY_BACKOFF_SECONDS_MAX * attempt / WRITE_ATTEMPTS_MAX)
                )
        raise AssertionError("unreachable: the loop returns or raises")

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection whose statements all see one snapshot of the ledger, so that a read made
        of several queries is consistent; it takes no write lock."""
        try:
            with self.engine.connect() as connection:
                options: dict[str, Any] = {_READ_ONLY_OPTION: True}
                if self.dialect == "postgresql":
                    options["isolation_level"] = "REPEATABLE READ"
                connection = connection.execution_options(**options)
                with connection.begin():
                    yield connection
        except DATABASE_ERRORS as error:
            # A read cannot be rerun from here (its body is the caller's); a connection that
            # died under it is a ledger that is briefly unavailable (503), not a failure (500).
            if is_connection_lost(error):
                raise LedgerBusy(1, "a lost connection") from error
            raise

    def dispose(self) -> None:
        self.engine.dispose()


class HeldConnection:
    """One connection kept open across transactions, used by one thread at a time. A
    connection that fails is closed and replaced by a fresh one at the next transaction."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._connection: Connection | None = None

    def write(self, work: Callable[[Connection], T]) -> T:
        """As ``Database.write``, on the held connection."""
        if self._database.dialect == "sqlite":
            return self._database._write_retried(work, self._driver_transaction)
        return self._database._write_retried(work, self._transaction)

    def _connected(self) -> Connection:
        if self._connection is None or self._connection.invalidated or self._connection.closed:
            self._connection = self._database.engine.connect()
        return self._connection

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        connection = self._connected()
        try:
            with connection.begin():
                yield connection
        except DATABASE_ERRORS:
            # After a database error, the next transaction starts on a fresh connection known
            # to be sound; any other error (a refusal, bad input) rolled back cleanly.
            self.close()
            raise

    @contextmanager
    def _driver_transaction(self) -> Iterator[Connection]:
        """As ``_transaction``, begun and ended on the driver (SQLite): SQLAlchemy's begin and
        commit, with their events, cost more than a lone charge's own Python, whose statements
        go to the driver anyway. The same single transaction whatever the work sends: a
        statement through SQLAlchemy (or a savepoint) joins it (``_on_begin`` sees it begun),
        and SQLAlchemy then ends it."""
        connection = self._connected()
        try:
            driver: Any = connection.connection.driver_connection
            driver.execute("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                if connection.in_transaction():
                    connection.rollback()
                else:
                    driver.rollback()
                raise
            if connection.in_transaction():
                connection.commit()
            else:
                driver.commit()
        except DATABASE_ERRORS:
            # After a database error, the next transaction starts on a fresh connection known
            # to be sound; any other error (a refusal, bad input) rolled back cleanly.
            self.close()
            raise

    def close(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            try:
                connection.close()
            except DATABASE_ERRORS:
                connection.invalidate()
