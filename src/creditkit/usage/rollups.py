"""Usage rollups: the ledger's spending summed per customer, unit, hour, action, member and
spender (and per value of each usage dimension the catalog declares), kept in each spending
transaction (the ledger's ``recorded`` hook), so that usage reads sum a bucket per hour instead
of a row per charge.

The hook is told of every charge and hold commit a transaction posts. It sums the batch in
Python first, so that each key is written once, then writes every key in one multi-row
``INSERT … ON CONFLICT DO UPDATE`` per table (per ``ROWS_PER_STATEMENT_MAX``). A rollup row
commits or rolls back with the spending it counts: it can never disagree with the ledger's rows.

A dimension's values are read back from the rows just written, with the very SQL the reads of
the ledger's rows use (``breakdown_repository.dimension_of_spending``): the same text for a
number, and a commit's value from its hold's metadata when its own has none. A dimension newly
declared is filled from the ledger's rows once, when a kit first opens the database with it
(``fill_dimensions``); every process sharing a database declares the same dimensions.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from creditkit.clock import Clock
from creditkit.errors import InvariantViolation
from creditkit.ledger.kernel import Spend
from creditkit.store.database import Database
from creditkit.store.flavor import flavor_of
from creditkit.store.tables import (
    transactions,
    usage_dimension_rollups,
    usage_dimensions,
    usage_rollups,
)
from creditkit.store.unit_of_work import UnitOfWork
from creditkit.usage import breakdown_repository, buckets, repository

#: Rows (10 parameters each at most) and transaction ids per statement: within SQLite's 32,766
#: parameters whatever the batch.
ROWS_PER_STATEMENT_MAX: Final = 2_000
KEY_COLUMNS: Final = ("customer_id", "unit", "bucket_start", "action", "member", "spender")
DIMENSION_KEY_COLUMNS: Final = ("customer_id", "unit", "bucket_start", "dimension", "value")
DIMENSION_SUM_COLUMNS: Final = ("steps", "charges")


def _chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for index in range(0, len(items), ROWS_PER_STATEMENT_MAX):
        yield items[index : index + ROWS_PER_STATEMENT_MAX]


class UsageRollups:
    """The ledger's ``recorded`` hook (``CreditKit._hooks``), for the catalog's ``dimensions``."""

    def __init__(self, database: Database, clock: Clock, dimensions: Sequence[str]) -> None:
        self._database = database
        self._now = clock
        self._dimensions = tuple(dimensions)

    def record(self, context: UnitOfWork, spends: Sequence[Spend]) -> None:
        connection = context.connection
        # The dimensions' values are read back from the rows just written; without declared
        # dimensions the spends themselves say everything (the hot path: no read).
        read_back = self._read_back(connection, spends) if self._dimensions else {}
        sums: dict[tuple[int, str, datetime, str, str, str], list[int]] = {}
        valued: dict[tuple[int, str, datetime, str, str], list[int]] = {}
        # A batch's spends share their moment: its bucket is worked out once.
        last_moment: datetime | None = None
        bucket = datetime.min
        for spend in spends:
            issued, expired = spend.issued, spend.expired
            values = read_back[spend.transaction_id] if self._dimensions else ()
            moment = spend.created_at if spend.counted_at is None else spend.counted_at
            if moment is not last_moment:
                bucket, last_moment = buckets.bucket_floor(moment), moment
            key = (
                spend.customer_id,
                spend.unit,
                bucket,
                buckets.NONE if spend.action is None else spend.action,
                buckets.NONE if spend.member is None else spend.member,
                buckets.NONE if spend.spender is None else spend.spender,
            )
            if not spend.rolled_up:
                total = sums.setdefault(key, [0, 0, 0, 0])
                total[0] += spend.steps
                total[1] += spend.charges
                total[2] += issued
                total[3] += expired
            for name, value in zip(self._dimensions, values, strict=True):
                if value is None:
                    continue  # counted in the rest: usage_rollups less the valued
                valued_key = (spend.customer_id, spend.unit, bucket, name, value)
                part = valued.setdefault(valued_key, [0, 0])
                part[0] += spend.steps
                part[1] += spend.charges
        for table, key_columns, sum_columns, totals in (
            (usage_rollups, KEY_COLUMNS, buckets.SUM_COLUMNS, sums),
            (usage_dimension_rollups, DIMENSION_KEY_COLUMNS, DIMENSION_SUM_COLUMNS, valued),
        ):
            if not totals:
                continue  # no dimension declared, or spends all rolled up: nothing to write
            # A reversal counts no charge and gives steps back: it changes the row its charge
            # counted in, which a new row's checks (a charge or more, steps not negative)
            # would refuse to insert.
            given_back = {key: total for key, total in totals.items() if total[1] <= 0}
            _upsert_all(
                connection, table, key_columns, sum_columns,
                {key: total for key, total in totals.items() if total[1] > 0},
            )  # fmt: skip
            _add_to_rows(connection, table, key_columns, sum_columns, given_back)

    def _read_back(
        self, connection: Connection, spends: Sequence[Spend]
    ) -> dict[int, tuple[str | None, ...]]:
        """Each spend's value of each dimension (None: none), from the rows its transaction just
        wrote, in one statement per ``ROWS_PER_STATEMENT_MAX``."""
        columns = [
            transactions.c.id,
            *(
                breakdown_repository.dimension_of_spending(connection, name)
                for name in self._dimensions
            ),
        ]
        read_back: dict[int, tuple[str | None, ...]] = {}
        for chunk in _chunks([spend.transaction_id for spend in spends]):
            rows = connection.execute(sa.select(*columns).where(transactions.c.id.in_(chunk)))
            for transaction_id, *values in rows:
                read_back[transaction_id] = tuple(values)
        return read_back

    def fill_dimensions(self) -> None:
        """Fills the rollups of each declared dimension not filled yet from the ledger's rows,
        each in one write transaction that no spending can interleave with: on PostgreSQL the
        table is locked against the recorders of other processes (which wait, then add to what
        was filled), on SQLite every write is serialized anyway."""
        for name in self._dimensions:
            self._database.unit_of_work(self._now, functools.partial(self._fill, name=name))

    def _fill(self, context: UnitOfWork, name: str) -> None:
        connection = context.connection
        if breakdown_repository.dimension_filled(connection, name):
            return  # the common case, without a lock
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql("LOCK TABLE usage_dimension_rollups IN EXCLUSIVE MODE")
            if breakdown_repository.dimension_filled(connection, name):
                return  # another process filled it while this one waited for the lock
        # What a recorder of a process that declared it first may have added, before this
        # fill counts the same spends again from the ledger's rows.
        connection.execute(
            sa.delete(usage_dimension_rollups).where(usage_dimension_rollups.c.dimension == name)
        )
        spending = (
            sa.select(
                transactions.c.customer_id,
                transactions.c.unit,
                breakdown_repository.bucket_of(connection, repository.COUNTED_AT).label("bucket"),
                breakdown_repository.dimension_of_spending(connection, name).label("value"),
                repository.SIGNED_STEPS.label("amount"),
                repository.CHARGE_COUNT.label("charges"),
            )
            .where(
                transactions.c.kind.in_(repository.SPEND_KINDS),
                transactions.c.status == "applied",
            )
            .subquery("spending")
        )
        grouped = (
            sa.select(
                spending.c.customer_id,
                spending.c.unit,
                spending.c.bucket,
                sa.literal(name, sa.String),
                spending.c.value,
                sa.func.sum(spending.c.amount),
                sa.func.sum(spending.c.charges),
            )
            .where(spending.c.value.is_not(None))
            .group_by(spending.c.customer_id, spending.c.unit, spending.c.bucket, spending.c.value)
        )
        connection.execute(
            sa.insert(usage_dimension_rollups).from_select(
                [*DIMENSION_KEY_COLUMNS, *DIMENSION_SUM_COLUMNS], grouped
            )
        )
        connection.execute(sa.insert(usage_dimensions).values(name=name, filled_at=context.now))


def _add_to_rows(
    connection: Connection,
    table: sa.Table,
    key_columns: Sequence[str],
    sum_columns: Sequence[str],
    sums: dict[Any, list[int]],
) -> None:
    """Adds ``sums`` to rows that exist (the rows the reversed charges counted in)."""
    for key, total in sorted(sums.items()):
        changed = connection.execute(
            sa.update(table)
            .where(*(table.c[name] == value for name, value in zip(key_columns, key, strict=True)))
            .values(
                {name: table.c[name] + part for name, part in zip(sum_columns, total, strict=True)}
            )
        ).rowcount
        if changed != 1:
            raise InvariantViolation("a reversal counts in its charge's rollup", repr(key))


def _upsert_all(
    connection: Connection,
    table: sa.Table,
    key_columns: Sequence[str],
    sum_columns: Sequence[str],
    sums: dict[Any, list[int]],
) -> None:
    """Adds ``sums`` (key tuple: sums) to ``table``, through the driver (the ledger's hot path:
    a statement built by SQLAlchemy per charge would cost more than the charge). In key order:
    two transactions upserting the same keys (several customers in each batch) take their row
    locks in one order, so they cannot deadlock on them."""
    flavor = flavor_of(connection)
    rows = [
        tuple(flavor.time_in(value) if isinstance(value, datetime) else value for value in key)
        + tuple(total)
        for key, total in sorted(sums.items())
    ]
    for chunk in _chunks(rows):
        statement = _upsert_statement(
            flavor.placeholder, table.name, tuple(key_columns), tuple(sum_columns), len(chunk)
        )
        cursor = flavor.cursor(connection)
        cursor.execute(statement, tuple(value for row in chunk for value in row))
        cursor.close()


@functools.lru_cache(maxsize=256)
def _upsert_statement(
    placeholder: str,
    table: str,
    key_columns: tuple[str, ...],
    sum_columns: tuple[str, ...],
    rows: int,
) -> str:
    """``INSERT … ON CONFLICT (key) DO UPDATE`` adding each sum, for ``rows`` rows: the same
    text on SQLite and PostgreSQL but for the placeholder."""
    columns = (*key_columns, *sum_columns)
    row = "(" + ", ".join([placeholder] * len(columns)) + ")"
    updates = ", ".join(f"{name} = {table}.{name} + excluded.{name}" for name in sum_columns)
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join([row] * rows)}"
        f" ON CONFLICT ({', '.join(key_columns)}) DO UPDATE SET {updates}"
    )
