"""Raw SQL for the ledger's hot path, in each driver's own dialect.

Why raw: building and compiling a SQLAlchemy statement costs tens of microseconds per execute,
several times what SQLite takes to run it. The statements a charge runs are therefore written
here once per dialect and passed straight to the driver; the rest of the ledger uses SQLAlchemy
Core. Values cross this boundary in the same representation ``tables.UtcDateTime`` and
``tables.Json`` use, so rows written either way read back alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache, lru_cache
from typing import Any

from sqlalchemy.engine import Connection

from creditkit.errors import InvariantViolation
from creditkit.store.tables import from_epoch_microseconds, to_epoch_microseconds

_TRANSACTION_COLUMNS = (
    "id, idempotency_key, kind, status, customer_id, counterparty_id, unit, amount, action,"
    " hold_id, member, spender, request, outcome, metadata, created_at, occurred_at, reverses_id"
)
_TRANSACTION_VALUES = 18

#: 4 parameters a row: 1,000 rows stay far below SQLite's (32,766) and PostgreSQL's (65,535)
#: limits on parameters in one statement.
ENTRY_ROWS_PER_STATEMENT = 1_000
#: SQLite: an entry's id is its transaction's id times this, plus its leg (0, 1, ...) within
#: the transaction. ``entries`` is clustered by ``(transaction_id, id)`` there (migration 0030),
#: which gives no automatic id; a CHECK refuses any other id, so ids stay unique and in insert
#: order. So many legs a transaction may have on SQLite.
ENTRY_IDS_PER_TRANSACTION = 1 << 20

#: SQLite: one entry, its id the next of its transaction's (the first: the transaction's own
#: times ``ENTRY_IDS_PER_TRANSACTION``), found by a seek of the primary key. Executed once per
#: row, so each row sees the ones before it.
_SQLITE_INSERT_ENTRY = (
    "INSERT INTO entries (id, transaction_id, account_id, unit, amount) VALUES"
    " (COALESCE((SELECT MAX(id) + 1 FROM entries WHERE transaction_id = ?1),"
    f" ?1 * {ENTRY_IDS_PER_TRANSACTION}), ?1, ?2, ?3, ?4)"
)

#: Rows (transactions and entries) of one combined statement on PostgreSQL: a bigger batch
#: goes in the separate statements, which chunk themselves.
COMBINED_ROWS_MAX = 30_000

#: Budget usage rows a charge alone counts in its insert statement (one per budget on its path:
#: a deep path beyond this writes them in a statement of their own).
BUDGET_USAGE_ROWS_FOLDED_MAX = 32

#: PostgreSQL: a batch's transactions and their entries in one statement, each column passed as
#: an array (in ``_TRANSACTION_COLUMNS`` order but ``id``; then the entries' account, unit,
#: transaction key and amount), kept in the order given.
_COMBINED_INSERT = (
    "WITH v AS (SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::bigint[],"
    " %s::bigint[], %s::text[], %s::bigint[], %s::text[], %s::bigint[], %s::text[], %s::text[],"
    " %s::text[], %s::text[], %s::text[], %s::timestamptz[], %s::timestamptz[], %s::bigint[])"
    " WITH ORDINALITY AS"
    " v(idempotency_key, kind, status, customer_id, counterparty_id, unit, amount, action,"
    " hold_id, member, spender, request, outcome, metadata, created_at, occurred_at,"
    " reverses_id, position)),"
    f" t AS (INSERT INTO transactions ({_TRANSACTION_COLUMNS.removeprefix('id, ')})"
    " SELECT idempotency_key, kind, status, customer_id, counterparty_id, unit, amount, action,"
    " hold_id, member, spender, request, outcome, metadata::jsonb, created_at, occurred_at,"
    " reverses_id FROM v"
    " ORDER BY position"
    " RETURNING id, idempotency_key),"
    " e AS (INSERT INTO entries (transaction_id, account_id, unit, amount)"
    " SELECT t.id, x.account_id, x.unit, x.amount FROM unnest(%s::bigint[], %s::text[],"
    " %s::text[], %s::bigint[]) WITH ORDINALITY AS x(account_id, unit, key, amount, position)"
    " JOIN t ON t.idempotency_key = x.key ORDER BY x.position)"
    " SELECT id, idempotency_key FROM t"
)


#: The upsert of budget usage rows, each adding its steps (negative: given back, never below
#: zero) to its period's row.
_BUDGET_USAGE_UPSERT = (
    "INSERT INTO budget_usage (customer_id, spender, unit, period, period_start, used)"
    " VALUES ({mark}, {mark}, {mark}, {mark}, {mark}, {mark})"
    " ON CONFLICT (customer_id, spender, unit, period, period_start) DO UPDATE SET used ="
    " CASE WHEN budget_usage.used + {mark} > 0 THEN budget_usage.used + {mark} ELSE 0 END"
)


@cache
def _budget_usage_upsert(mark: str) -> str:
    return _BUDGET_USAGE_UPSERT.format(mark=mark)


#: SQLite: the most budget usage rows added in one multi-row statement (more: one execution each).
_USAGE_ROWS_PER_STATEMENT_MAX = 16


@cache
def _budget_usage_added(count: int) -> str:
    """SQLite: ``count`` usage rows added in one statement, each adding what it would insert
    (so only for positive steps): a spend through budgets at several levels costs one step of
    the statement instead of one per level. SQLite applies the rows in order, each seeing the
    ones before it, as separate executions would."""
    values = ", ".join(["(?, ?, ?, ?, ?, ?)"] * count)
    return (
        "INSERT INTO budget_usage (customer_id, spender, unit, period, period_start, used)"
        f" VALUES {values}"
        " ON CONFLICT (customer_id, spender, unit, period, period_start) DO UPDATE SET used ="
        " budget_usage.used + excluded.used"
    )


@cache
def _one_transaction_insert(entry_count: int, usage_count: int = 0) -> str:
    """PostgreSQL: one transaction and its ``entry_count`` entries in one statement of scalar
    parameters. A batch of one is the common case (a charge alone), and psycopg's array dumping
    costs more than the round trip it saves there; the text depends only on the counts, so
    it is converted once and prepared by the server. With ``usage_count``, the statement also
    adds that many budget usage rows' steps (all positive: a spend's), so that a charge through
    a spender under budgets costs no round trip more for counting them."""
    values = ", ".join(
        f"({position}, %s::bigint, %s::text, %s::bigint)" for position in range(entry_count)
    )
    usage = ""
    if usage_count:
        rows = ", ".join(
            ["(%s::bigint, %s::text, %s::text, %s::text, %s::timestamptz, %s::bigint)"]
            * usage_count
        )
        usage = (
            ", b AS (INSERT INTO budget_usage"
            " (customer_id, spender, unit, period, period_start, used)"
            f" VALUES {rows} ON CONFLICT (customer_id, spender, unit, period, period_start)"
            " DO UPDATE SET used = budget_usage.used + EXCLUDED.used)"
        )
    return (
        f"WITH t AS (INSERT INTO transactions ({_TRANSACTION_COLUMNS.removeprefix('id, ')})"
        f" VALUES ({', '.join(['%s'] * (_TRANSACTION_VALUES - 5))}, %s::jsonb, %s,"
        " %s::timestamptz, %s::bigint) RETURNING id)"
        f"{usage}"
        " INSERT INTO entries (transaction_id, account_id, unit, amount)"
        " SELECT t.id, x.account_id, x.unit, x.amount FROM t,"
        f" (VALUES {values}) AS x(position, account_id, unit, amount) ORDER BY x.position"
        " RETURNING transaction_id"
    )


_LOCK_COLUMNS = "c.id, c.external_id, c.kind, c.next_due_at, c.budgeted"
#: The grant columns the hot path reads, in the order ``repository._grant_from`` takes them.
GRANT_COLUMNS = (
    "a.id, a.unit, a.balance, g.source, g.priority, g.effective_at, g.expires_at, g.transferable,"
    " g.applies_to"
)


@dataclass(frozen=True)
class Flavor:
    dialect: str
    placeholder: str

    @staticmethod
    def cursor(connection: Connection) -> Any:
        """The driver's own cursor, inside the connection's current transaction."""
        return connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]

    def fetch(
        self, connection: Connection, statement: str, parameters: tuple[Any, ...]
    ) -> list[Any]:
        cursor = self.cursor(connection)
        cursor.execute(statement, parameters)
        rows: list[Any] = cursor.fetchall()
        cursor.close()
        return rows

    def execute_many(
        self, connection: Connection, statement: str, rows: list[tuple[Any, ...]]
    ) -> None:
        cursor = self.cursor(connection)
        cursor.executemany(statement, rows)
        cursor.close()

    def json_texts(self, column: str) -> str:
        """A subquery of the strings in ``column``, a JSON list of strings."""
        if self.dialect == "postgresql":
            return f"(SELECT json_array_elements_text({column}::json))"
        return f"(SELECT value FROM json_each({column}))"

    def _values(self, count: int) -> str:
        return ", ".join([self.placeholder] * count)

    def insert_entries(self, connection: Connection, rows: list[tuple[Any, ...]]) -> None:
        """Entries go in multi-row INSERTs of up to ENTRY_ROWS_PER_STATEMENT rows: one statement
        per charge, and few per batch. SQLite: one execution per row, which gives its id."""
        if self.dialect == "sqlite":
            self.execute_many(connection, _SQLITE_INSERT_ENTRY, rows)
            return
        for start in range(0, len(rows), ENTRY_ROWS_PER_STATEMENT):
            chunk = rows[start : start + ENTRY_ROWS_PER_STATEMENT]
            values = ", ".join([f"({self._values(4)})"] * len(chunk))
            cursor = self.cursor(connection)
            cursor.execute(
                f"INSERT INTO entries (transaction_id, account_id, unit, amount) VALUES {values}",
                tuple(value for row in chunk for value in row),
            )
            cursor.close()

    @property
    def grants_statement(self) -> str:
        return (
            f"SELECT {GRANT_COLUMNS} FROM accounts a JOIN grants g ON g.account_id = a.id"
            f" WHERE a.customer_id = {self.placeholder} AND a.unit = {self.placeholder}"
            " AND a.kind = 'grant' AND a.balance > 0"
        )

    @cache  # noqa: B019 - one Flavor per dialect lives for the whole process
    def lock_statement(self, count: int, with_grants: bool) -> str:
        """Locks ``count`` customers by external id, in id order; ``with_grants``: with every
        grant of theirs that has credits left, a row per grant (the grant columns NULL for a
        customer with none), in one round trip."""
        where = f"c.external_id IN ({self._values(count)})"
        locking = f"SELECT {_LOCK_COLUMNS} FROM customers c WHERE {where} ORDER BY c.id"
        if self.dialect == "postgresql":
            if with_grants:
                # A function (migration 0016): the grants must be read after the lock is
                # granted, by a statement of their own, to see what the writer before committed.
                return (
                    "SELECT * FROM creditkit_lock_customers_with_grants"
                    f"(ARRAY[{self._values(count)}]::text[])"
                )
            # NO KEY UPDATE: conflicts with other ledger writers of these customers, not with
            # foreign-key checks of rows that merely reference them.
            return f"{locking} FOR NO KEY UPDATE OF c"
        if with_grants:
            # SQLite: BEGIN IMMEDIATE made this the only writer, so the join reads the grants
            # as they are.
            return (
                f"SELECT {_LOCK_COLUMNS}, {GRANT_COLUMNS} FROM customers c"
                " LEFT JOIN accounts a"
                " ON a.customer_id = c.id AND a.kind = 'grant' AND a.balance > 0"
                " LEFT JOIN grants g ON g.account_id = a.id"
                f" WHERE {where} ORDER BY c.id"
            )
        return locking

    def insert_transactions(self, connection: Connection, rows: list[tuple[Any, ...]]) -> list[int]:
        """Inserts transaction rows (every column but ``id``) and returns their new ids in the
        order of ``rows``, in one round trip."""
        columns = _TRANSACTION_COLUMNS.removeprefix("id, ")
        values = self._values(_TRANSACTION_VALUES - 1)
        if self.dialect == "postgresql" and len(rows) == 1:
            # One row: a plain statement, without the pipeline executemany sets up each call.
            statement = f"INSERT INTO transactions ({columns}) VALUES ({values}) RETURNING id"
            return [self.fetch(connection, statement, rows[0])[0][0]]
        if self.dialect == "postgresql":
            # psycopg's executemany returns every row's id in one pipelined round trip.
            cursor = self.cursor(connection)
            cursor.executemany(
                f"INSERT INTO transactions ({columns}) VALUES ({values}) RETURNING id",
                rows,
                returning=True,
            )
            ids: list[int] = []
            while True:
                ids.append(cursor.fetchone()[0])
                if not cursor.nextset():
                    return ids
        if len(rows) == 1:
            # One row (a single charge): SQLite gives an id column that is the rowid the
            # largest id plus one, and says which; no read of the maximum first.
            cursor = self.cursor(connection)
            cursor.execute(f"INSERT INTO transactions ({columns}) VALUES ({values})", rows[0])
            transaction_id = cursor.lastrowid
            cursor.close()
            if not isinstance(transaction_id, int):
                raise InvariantViolation("SQLite names the row it inserted", repr(transaction_id))
            return [transaction_id]
        # SQLite: BEGIN IMMEDIATE made this transaction the only writer, and transactions are
        # never deleted, so the ids above the current maximum are free.
        start = int(
            self.fetch(connection, "SELECT COALESCE(MAX(id), 0) FROM transactions", ())[0][0]
        )
        ids = list(range(start + 1, start + 1 + len(rows)))
        self.execute_many(
            connection,
            f"INSERT INTO transactions ({_TRANSACTION_COLUMNS}) VALUES ({values}, ?)",
            [(transaction_id, *row) for transaction_id, row in zip(ids, rows, strict=True)],
        )
        return ids

    def add_budget_usage(self, connection: Connection, rows: list[tuple[Any, ...]]) -> None:
        """Adds each row's steps (customer id, spender, unit, period, period start, steps;
        negative: given back, never below zero) to its usage row, creating it at need."""
        if not rows:
            return
        if (
            self.dialect == "sqlite"
            and len(rows) <= _USAGE_ROWS_PER_STATEMENT_MAX
            and all(row[-1] > 0 for row in rows)
        ):
            cursor = self.cursor(connection)
            cursor.execute(
                _budget_usage_added(len(rows)),
                [
                    value
                    for customer_id, spender, unit, period, start, steps in rows
                    for value in (customer_id, spender, unit, period, self.time_in(start), steps)
                ],
            )
            cursor.close()
            return
        self.execute_many(
            connection,
            _budget_usage_upsert(self.placeholder),
            [
                (
                    customer_id,
                    spender,
                    unit,
                    period,
                    self.time_in(start),
                    max(0, steps),
                    steps,
                    steps,
                )
                for customer_id, spender, unit, period, start, steps in rows
            ],
        )

    def insert_transactions_with_entries(
        self,
        connection: Connection,
        rows: list[tuple[Any, ...]],
        entries_of_rows: list[list[tuple[int, str, int]]],
        budget_usage: list[tuple[Any, ...]],
    ) -> list[int]:
        """``insert_transactions``, then each row's entries (account, unit, amount), and
        ``add_budget_usage``. On PostgreSQL a batch is one statement (``_COMBINED_INSERT``):
        the transactions' INSERT in a CTE, the entries' INSERT joined to what it returned by
        idempotency key (unique in a batch), in the order given, so that entry ids keep the
        burn-down order; a charge alone counts its budgets in that statement too."""
        entry_count = sum(len(legs) for legs in entries_of_rows)
        keys = [row[0] for row in rows]
        if (
            self.dialect != "postgresql"
            or len(rows) + entry_count > COMBINED_ROWS_MAX
            or len(set(keys)) != len(keys)
        ):
            ids = self.insert_transactions(connection, rows)
            self.insert_entries(
                connection,
                [
                    (transaction_id, *leg)
                    for transaction_id, legs in zip(ids, entries_of_rows, strict=True)
                    for leg in legs
                ],
            )
            self.add_budget_usage(connection, budget_usage)
            return ids
        if (
            len(rows) == 1
            and entries_of_rows[0]
            and all(usage[-1] > 0 for usage in budget_usage)
            and len(budget_usage) <= BUDGET_USAGE_ROWS_FOLDED_MAX
        ):
            legs = entries_of_rows[0]
            returned = self.fetch(
                connection,
                _one_transaction_insert(len(legs), len(budget_usage)),
                (
                    *rows[0],
                    *(value for usage in budget_usage for value in usage),
                    *(value for leg in legs for value in leg),
                ),
            )
            return [int(returned[0][0])]
        self.add_budget_usage(connection, budget_usage)
        # A column of arrays: the statement's text is the same whatever the batch's size, so
        # psycopg converts it once and PostgreSQL runs it prepared.
        columns: list[list[Any]] = [list(column) for column in zip(*rows, strict=True)]
        entry_columns: list[list[Any]] = [[], [], [], []]
        for key, legs in zip(keys, entries_of_rows, strict=True):
            for account_id, unit, amount in legs:
                entry_columns[0].append(account_id)
                entry_columns[1].append(unit)
                entry_columns[2].append(key)
                entry_columns[3].append(amount)
        id_of = {
            key: transaction_id
            for transaction_id, key in self.fetch(
                connection, _COMBINED_INSERT, (*columns, *entry_columns)
            )
        }
        return [id_of[key] for key in keys]

    def time_in(self, value: datetime | None) -> Any:
        if value is None or self.dialect != "sqlite":
            return value
        return _epoch_microseconds_cached(value)

    def time_out_optional(self, value: Any) -> datetime | None:
        return None if value is None else self.time_out(value)

    def time_out(self, value: Any) -> datetime:
        if self.dialect == "sqlite":
            return from_epoch_microseconds(value)
        if not isinstance(value, datetime):
            raise InvariantViolation(
                "a timestamp column reads back as a datetime", type(value).__name__
            )
        return value.astimezone(UTC)


@lru_cache(maxsize=256)
def _epoch_microseconds_cached(value: datetime) -> int:
    """A batch stamps every row with the same moment: convert it once."""
    return to_epoch_microseconds(value)


_FLAVORS = {"sqlite": Flavor("sqlite", "?"), "postgresql": Flavor("postgresql", "%s")}


def flavor_of(connection: Connection) -> Flavor:
    return _FLAVORS[connection.dialect.name]


def flavor_of_dialect(dialect: str) -> Flavor:
    return _FLAVORS[dialect]
