"""The ledger's SQL. Functions here read and write rows; they decide nothing (service.py does)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from creditkit.errors import UnknownCustomer
from creditkit.ledger.schemas import GrantSource, TransactionKind
from creditkit.store.flavor import Flavor, flavor_of
from creditkit.store.tables import (
    accounts,
    customers,
    entries,
    grants,
    transactions,
    units,
)
from creditkit.store.unit_of_work import CustomerRow

#: IN-lists are sent in chunks of at most this many values: SQLite's limit on bound parameters
#: (32,766 since 3.32) and PostgreSQL's (65,535) are far above it, and it keeps statements small.
IN_LIST_CHUNK_MAX = 500


@dataclass(slots=True)
class GrantRow:
    """A grant with its remaining balance. ``remaining`` is mutable so that one write can spend
    from the rows it read (burn-down runs over these in memory)."""

    account_id: int
    remaining: int
    source: GrantSource
    priority: int
    effective_at: datetime
    expires_at: datetime | None
    transferable: bool
    #: The actions or categories it pays for; None: any.
    applies_to: frozenset[str] | None = None

    def is_live(self, now: datetime) -> bool:
        """Counts towards the balance at ``now``: started, and not yet expired (a grant stops
        counting at ``expires_at`` exactly)."""
        return self.effective_at <= now and (self.expires_at is None or now < self.expires_at)


@dataclass(frozen=True, slots=True)
class TransactionRow:
    id: int
    idempotency_key: str
    kind: TransactionKind
    status: str
    customer_id: int
    counterparty_id: int | None
    unit: str
    amount: int
    action: str | None
    hold_id: int | None
    member: str | None
    spender: str | None
    request: str
    outcome: str | None
    metadata: dict[str, Any]
    created_at: datetime
    #: When the usage it counts for happened (late usage, a reversal); None: at ``created_at``.
    occurred_at: datetime | None = None
    #: The charge a reversal gives back.
    reverses_id: int | None = None

    @property
    def counted_at(self) -> datetime:
        """The moment usage reads and rollups count it at."""
        return self.created_at if self.occurred_at is None else self.occurred_at


def chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), IN_LIST_CHUNK_MAX):
        yield values[start : start + IN_LIST_CHUNK_MAX]


# -- units and system accounts ------------------------------------------------------------------


def read_units(connection: Connection) -> dict[str, int]:
    return {row.name: row.scale for row in connection.execute(sa.select(units))}


def insert_unit(connection: Connection, name: str, scale: int, now: datetime) -> None:
    connection.execute(units.insert().values(name=name, scale=scale, created_at=now))


def read_system_accounts(connection: Connection) -> dict[tuple[str, str], int]:
    rows = connection.execute(
        sa.select(accounts.c.id, accounts.c.kind, accounts.c.unit).where(
            accounts.c.customer_id.is_(None)
        )
    )
    return {(row.kind, row.unit): row.id for row in rows}


def insert_system_account(connection: Connection, kind: str, unit: str, now: datetime) -> None:
    connection.execute(
        accounts.insert().values(
            kind=kind, unit=unit, customer_id=None, balance=None, created_at=now
        )
    )


# -- customers ----------------------------------------------------------------------------------


def _customer_columns() -> list[sa.ColumnElement[Any]]:
    return [
        customers.c.id,
        customers.c.external_id,
        customers.c.kind,
        customers.c.next_due_at,
        customers.c.budgeted,
    ]


def find_customer(connection: Connection, external_id: str) -> CustomerRow | None:
    row = connection.execute(
        sa.select(*_customer_columns()).where(customers.c.external_id == external_id)
    ).first()
    if row is None:
        return None
    return CustomerRow(row.id, row.external_id, row.kind, row.next_due_at, bool(row.budgeted))


#: Customers per statement of ``customers_by_id`` (its IN list).
CUSTOMERS_PER_STATEMENT = 500


def customers_by_id(connection: Connection, customer_ids: Sequence[int]) -> dict[int, CustomerRow]:
    """The customers of these row ids, by id, a statement per ``CUSTOMERS_PER_STATEMENT`` of
    them (a batch's ``recorded`` hooks know only ids)."""
    found: dict[int, CustomerRow] = {}
    ordered = sorted(set(customer_ids))
    for first in range(0, len(ordered), CUSTOMERS_PER_STATEMENT):
        chunk = ordered[first : first + CUSTOMERS_PER_STATEMENT]
        query = sa.select(*_customer_columns()).where(customers.c.id.in_(chunk))
        for row in connection.execute(query):
            found[row.id] = CustomerRow(
                row.id, row.external_id, row.kind, row.next_due_at, bool(row.budgeted)
            )
    return found


def read_customer(connection: Connection, external_id: str) -> CustomerRow:
    row = find_customer(connection, external_id)
    if row is None:
        raise UnknownCustomer(external_id)
    return row


def lock_customers(connection: Connection, external_ids: Sequence[str]) -> dict[str, CustomerRow]:
    """Locks the customers' rows for the rest of the transaction, in id order so that two writers
    locking overlapping sets cannot deadlock. Every write that moves a customer's credits takes
    this lock first: it is what serializes burn-down for one customer across threads and
    processes. (SQLite needs no row lock: BEGIN IMMEDIATE already made this the only writer.)
    Customers that do not exist are absent from the result."""
    customers_found, _grants = _lock(connection, external_ids, with_grants=False)
    return customers_found


def lock_customers_with_grants(
    connection: Connection, external_ids: Sequence[str]
) -> tuple[dict[str, CustomerRow], dict[tuple[int, str], list[GrantRow]]]:
    """``lock_customers``, and in the same round trip every grant of theirs with credits left,
    by (customer id, unit), as committed by the writer that held the lock before (see
    ``Flavor.lock_statement``): a charge's whole read is one round trip."""
    return _lock(connection, external_ids, with_grants=True)


def _lock(
    connection: Connection, external_ids: Sequence[str], with_grants: bool
) -> tuple[dict[str, CustomerRow], dict[tuple[int, str], list[GrantRow]]]:
    flavor = flavor_of(connection)
    found: dict[str, CustomerRow] = {}
    grants_found: dict[tuple[int, str], list[GrantRow]] = {}
    for chunk in chunks(sorted(set(external_ids))):
        for row in flavor.fetch(
            connection, flavor.lock_statement(len(chunk), with_grants), tuple(chunk)
        ):
            customer = found.get(row[1])
            if customer is None:
                customer = CustomerRow(
                    row[0], row[1], row[2], flavor.time_out_optional(row[3]), bool(row[4])
                )
                found[row[1]] = customer
            if with_grants and row[5] is not None:
                grants_found.setdefault((customer.id, row[6]), []).append(
                    _grant_from(flavor, row[5:])
                )
    return found, grants_found


def _grant_from(flavor: Flavor, row: Sequence[Any]) -> GrantRow:
    """A grant from the columns ``flavor.GRANT_COLUMNS`` names, in its order."""
    return GrantRow(
        account_id=row[0],
        remaining=row[2],
        source=GrantSource(row[3]),
        priority=row[4],
        effective_at=flavor.time_out(row[5]),
        expires_at=flavor.time_out_optional(row[6]),
        transferable=bool(row[7]),
        applies_to=None if row[8] is None else _scope(row[8]),
    )


@lru_cache(maxsize=1024)
def _scope(text: str) -> frozenset[str]:
    """A grant's stored ``applies_to``: the same few scopes come back on every read."""
    return frozenset(json.loads(text))


def insert_customer(
    connection: Connection,
    external_id: str,
    kind: str,
    metadata: dict[str, Any],
    now: datetime,
    time_zone: str | None = None,
) -> None:
    connection.execute(
        customers.insert().values(
            external_id=external_id,
            kind=kind,
            created_at=now,
            next_due_at=None,
            metadata=metadata,
            time_zone=time_zone,
        )
    )


def update_customer_time_zone(
    connection: Connection, customer_id: int, time_zone: str | None
) -> None:
    connection.execute(
        customers.update().where(customers.c.id == customer_id).values(time_zone=time_zone)
    )


def customer_time_zone(connection: Connection, customer_id: int) -> str | None:
    zone: str | None = connection.execute(
        sa.select(customers.c.time_zone).where(customers.c.id == customer_id)
    ).scalar_one()
    return zone


def read_customer_full(connection: Connection, external_id: str) -> sa.Row[Any] | None:
    return connection.execute(
        sa.select(customers).where(customers.c.external_id == external_id)
    ).first()


def external_ids(connection: Connection, customer_ids: Sequence[int]) -> dict[int, str]:
    found: dict[int, str] = {}
    for chunk in chunks(list(customer_ids)):
        for row in connection.execute(
            sa.select(customers.c.id, customers.c.external_id).where(customers.c.id.in_(chunk))
        ):
            found[row.id] = row.external_id
    return found


def set_next_due_at(connection: Connection, customer_id: int, next_due_at: datetime | None) -> None:
    connection.execute(
        customers.update().where(customers.c.id == customer_id).values(next_due_at=next_due_at)
    )


def lower_next_due_at(connection: Connection, customer_id: int, due_at: datetime) -> None:
    """Keeps ``next_due_at`` a lower bound of every due time after adding one at ``due_at``.
    Compared in SQL, against the value as this transaction last wrote it (a sweep earlier in
    the same transaction may have moved it since the customer was locked)."""
    connection.execute(
        customers.update()
        .where(
            customers.c.id == customer_id,
            sa.or_(customers.c.next_due_at.is_(None), customers.c.next_due_at > due_at),
        )
        .values(next_due_at=due_at)
    )


def customers_due(connection: Connection, now: datetime, limit: int) -> list[str]:
    rows = connection.execute(
        sa.select(customers.c.external_id)
        .where(customers.c.next_due_at <= now)
        .order_by(customers.c.next_due_at)
        .limit(limit)
    )
    return [row.external_id for row in rows]


# -- grants -------------------------------------------------------------------------------------


def grants_with_credits(connection: Connection, customer_id: int, unit: str) -> list[GrantRow]:
    """Every grant of the customer in ``unit`` with credits left, live or not, unordered."""
    flavor = flavor_of(connection)
    return [
        _grant_from(flavor, row)
        for row in flavor.fetch(connection, flavor.grants_statement, (customer_id, unit))
    ]


def expired_grants_with_credits(
    connection: Connection, customer_id: int, before: datetime, limit: int
) -> list[sa.Row[Any]]:
    """The customer's grants with credits that expire before ``before`` (strictly), in the order
    they expired, at most ``limit``."""
    return list(
        connection.execute(
            sa.select(accounts.c.id, accounts.c.unit, accounts.c.balance, grants.c.expires_at)
            .join(grants, grants.c.account_id == accounts.c.id)
            .where(
                accounts.c.customer_id == customer_id,
                accounts.c.kind == "grant",
                accounts.c.balance > 0,
                grants.c.expires_at < before,
            )
            .order_by(grants.c.expires_at, accounts.c.id)
            .limit(limit)
        )
    )


def earliest_grant_expiry(connection: Connection, customer_id: int) -> datetime | None:
    value: datetime | None = connection.execute(
        sa.select(sa.func.min(grants.c.expires_at))
        .select_from(accounts.join(grants, grants.c.account_id == accounts.c.id))
        .where(
            accounts.c.customer_id == customer_id,
            accounts.c.kind == "grant",
            accounts.c.balance > 0,
        )
    ).scalar()
    return value


def insert_account(
    connection: Connection, kind: str, unit: str, customer_id: int, now: datetime
) -> int:
    account_id: int = connection.execute(
        accounts.insert()
        .values(kind=kind, unit=unit, customer_id=customer_id, balance=0, created_at=now)
        .returning(accounts.c.id)
    ).scalar_one()
    return account_id


def insert_grant(connection: Connection, values: dict[str, Any]) -> None:
    connection.execute(grants.insert().values(**values))


def read_grant_by_transaction(connection: Connection, transaction_id: int) -> sa.Row[Any]:
    return connection.execute(
        sa.select(grants, accounts.c.unit, customers.c.external_id)
        .join(accounts, accounts.c.id == grants.c.account_id)
        .join(customers, customers.c.id == accounts.c.customer_id)
        .where(grants.c.transaction_id == transaction_id)
    ).one()


@dataclass(frozen=True, slots=True)
class GrantHolding:
    """A grant's owner, unit and what it holds now next to what it was granted."""

    customer_id: int
    unit: str
    remaining: int
    amount_granted: int


def grant_holding(connection: Connection, grant_id: int) -> GrantHolding | None:
    row = connection.execute(
        sa.select(
            accounts.c.customer_id, accounts.c.unit, accounts.c.balance, grants.c.amount_granted
        )
        .join(grants, grants.c.account_id == accounts.c.id)
        .where(accounts.c.id == grant_id, accounts.c.kind == "grant")
    ).first()
    if row is None:
        return None
    return GrantHolding(row.customer_id, row.unit, row.balance, row.amount_granted)


def expiries_of(connection: Connection, account_ids: Sequence[int]) -> dict[int, datetime | None]:
    found: dict[int, datetime | None] = {}
    for chunk in chunks(list(account_ids)):
        for row in connection.execute(
            sa.select(grants.c.account_id, grants.c.expires_at).where(
                grants.c.account_id.in_(chunk)
            )
        ):
            found[row.account_id] = row.expires_at
    return found


# -- transactions and entries -------------------------------------------------------------------


def transaction_row(row: sa.Row[Any]) -> TransactionRow:
    return TransactionRow(
        id=row.id,
        idempotency_key=row.idempotency_key,
        kind=TransactionKind(row.kind),
        status=row.status,
        customer_id=row.customer_id,
        counterparty_id=row.counterparty_id,
        unit=row.unit,
        amount=row.amount,
        action=row.action,
        hold_id=row.hold_id,
        member=row.member,
        spender=row.spender,
        request=row.request,
        outcome=row.outcome,
        metadata=row.metadata,
        created_at=row.created_at,
        occurred_at=row.occurred_at,
        reverses_id=row.reverses_id,
    )


def applied_count(connection: Connection, customer_id: int, kind: str, action: str) -> int:
    """How many applied transactions of ``kind`` for ``action`` the customer has."""
    count = connection.execute(
        sa.select(sa.func.count()).where(
            transactions.c.customer_id == customer_id,
            transactions.c.kind == kind,
            transactions.c.action == action,
            transactions.c.status == "applied",
        )
    ).scalar_one()
    return int(count)


#: The kinds that may issue credits beyond the grants, or give such credits back: spending and
#: holds. A refund or an adjustment also credits the issuance account, but with credits taken
#: back from grants: counting them would lower what overage has used.
ON_DEMAND_KINDS = (
    TransactionKind.CHARGE.value,
    TransactionKind.REVERSAL.value,
    TransactionKind.RESERVE.value,
    TransactionKind.COMMIT.value,
    TransactionKind.RELEASE.value,
    TransactionKind.HOLD_EXPIRY.value,
)


def issued_on_demand(
    connection: Connection,
    customer_id: int,
    unit: str,
    issuance_account_id: int,
    since: datetime,
    until: datetime,
) -> int:
    """Steps issued to the customer beyond its grants (unlimited or overage) by transactions
    made in [since, until): what left the issuance account for spending and holds, net of what
    holds gave back to it."""
    total = connection.execute(
        sa.select(sa.func.coalesce(sa.func.sum(-entries.c.amount), 0))
        .select_from(entries.join(transactions, transactions.c.id == entries.c.transaction_id))
        .where(
            transactions.c.customer_id == customer_id,
            transactions.c.unit == unit,
            transactions.c.kind.in_(ON_DEMAND_KINDS),
            # At the moment the usage happened (late usage, a reversal with its charge): a
            # period is billed for the usage in it.
            sa.or_(
                sa.and_(
                    transactions.c.occurred_at.is_(None),
                    transactions.c.created_at >= since,
                    transactions.c.created_at < until,
                ),
                sa.and_(transactions.c.occurred_at >= since, transactions.c.occurred_at < until),
            ),
            entries.c.account_id == issuance_account_id,
        )
    ).scalar_one()
    return int(total)


def find_transaction(connection: Connection, idempotency_key: str) -> TransactionRow | None:
    row = connection.execute(
        sa.select(transactions).where(transactions.c.idempotency_key == idempotency_key)
    ).first()
    return None if row is None else transaction_row(row)


def find_transactions(connection: Connection, keys: Sequence[str]) -> dict[str, TransactionRow]:
    found: dict[str, TransactionRow] = {}
    for chunk in chunks(list(keys)):
        for row in connection.execute(
            sa.select(transactions).where(transactions.c.idempotency_key.in_(chunk))
        ):
            found[row.idempotency_key] = transaction_row(row)
    return found


def insert_transaction(connection: Connection, values: dict[str, Any]) -> int:
    return insert_transactions(connection, [values])[0]


def insert_transactions(connection: Connection, rows: list[dict[str, Any]]) -> list[int]:
    """Inserts many rows and returns their ids in the order of ``rows``."""
    if not rows:
        return []
    flavor = flavor_of(connection)
    return flavor.insert_transactions(connection, _transaction_tuples(flavor, rows))


def insert_transactions_with_entries(
    connection: Connection,
    rows: list[dict[str, Any]],
    entries_of_rows: list[list[tuple[int, str, int]]],
    budget_usage: list[tuple[int, str, str, str, datetime, int]],
) -> list[int]:
    """Inserts transaction rows and each one's entries (account, unit, amount), and adds the
    budget usage rows' steps, returning the transactions' ids in the order of ``rows``: in one
    statement where the database allows it (PostgreSQL), so that a charge costs one round
    trip less."""
    flavor = flavor_of(connection)
    if not rows:
        flavor.add_budget_usage(connection, list(budget_usage))
        return []
    return flavor.insert_transactions_with_entries(
        connection, _transaction_tuples(flavor, rows), entries_of_rows, list(budget_usage)
    )


def _transaction_tuples(flavor: Any, rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (
            row["idempotency_key"],
            row["kind"],
            row["status"],
            row["customer_id"],
            row["counterparty_id"],
            row["unit"],
            row["amount"],
            row["action"],
            row["hold_id"],
            row["member"],
            row.get("spender"),
            row["request"],
            row["outcome"],
            encode_json(row["metadata"]),
            flavor.time_in(row["created_at"]),
            None if row.get("occurred_at") is None else flavor.time_in(row["occurred_at"]),
            row.get("reverses_id"),
        )
        for row in rows
    ]


def insert_entries(connection: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        flavor_of(connection).insert_entries(
            connection,
            [
                (row["transaction_id"], row["account_id"], row["unit"], row["amount"])
                for row in rows
            ],
        )


def entries_of(connection: Connection, transaction_ids: Sequence[int]) -> list[sa.Row[Any]]:
    """Entries of the transactions with their accounts' kind and customer, in insert order."""
    found: list[sa.Row[Any]] = []
    for chunk in chunks(list(transaction_ids)):
        found.extend(
            connection.execute(
                sa.select(
                    entries.c.id,
                    entries.c.transaction_id,
                    entries.c.account_id,
                    entries.c.amount,
                    accounts.c.kind,
                    accounts.c.customer_id,
                )
                .join(accounts, accounts.c.id == entries.c.account_id)
                .where(entries.c.transaction_id.in_(chunk))
                .order_by(entries.c.id)
            )
        )
    return found


#: One encoder for the process: ``json.dumps`` with options builds a new one on every call,
#: which costs more than encoding a small request.
_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def encode_json(value: Any) -> str:
    """Compact JSON: the same value always gives the same text."""
    if not value and isinstance(value, dict):
        return "{}"
    return _ENCODE(value)


def grant_owner(connection: Connection, grant_id: int) -> str | None:
    """The external id of the customer holding the grant; None when there is no such grant."""
    owner: str | None = connection.execute(
        sa.select(customers.c.external_id)
        .select_from(accounts.join(customers, customers.c.id == accounts.c.customer_id))
        .where(accounts.c.id == grant_id, accounts.c.kind == "grant")
    ).scalar_one_or_none()
    return owner


def read_grant_for_correction(connection: Connection, grant_id: int) -> sa.Row[Any] | None:
    """The grant's terms with its owner, unit and what it holds now (a void or an expiry
    change reads it under its owner's lock)."""
    return connection.execute(
        sa.select(grants, accounts.c.unit, accounts.c.balance, customers.c.external_id)
        .join(accounts, accounts.c.id == grants.c.account_id)
        .join(customers, customers.c.id == accounts.c.customer_id)
        .where(grants.c.account_id == grant_id)
    ).first()
