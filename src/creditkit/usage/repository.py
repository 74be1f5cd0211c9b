"""Usage's SQL: sums over the ledger's own rows. Read-only; decides nothing.

Every query selects a customer's applied transactions of given kinds in a time range, which
``ix_transactions_customer_usage`` (customer, unit, kind, created_at) serves as index ranges:
its cost grows with the rows in the range, never with the customer's whole history.

A ``customer_id`` of None selects every customer's transactions (the operator's analytics): a
scan of the range's rows, read rarely, rather than one more index every ledger write would pay.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from creditkit.ledger.schemas import TransactionKind
from creditkit.store.tables import accounts, entries, grants, to_epoch_microseconds, transactions

#: What spending is: charges, and commits of holds (a reserve only sets credits aside).
SPEND_KINDS = (TransactionKind.CHARGE.value, TransactionKind.COMMIT.value)
#: Kinds whose entries may move credits from the issuance account (spending beyond the grants,
#: and holds giving such credits back) or to the expiry account from a hold (credits held from a
#: grant that expired while they were held).
HOLD_AND_ISSUE_KINDS = (
    TransactionKind.CHARGE.value,
    TransactionKind.RESERVE.value,
    TransactionKind.COMMIT.value,
    TransactionKind.RELEASE.value,
    TransactionKind.HOLD_EXPIRY.value,
)
#: Kinds that settle a hold: the only ones that may give held credits to the expiry account.
HOLD_SETTLE_KINDS = (
    TransactionKind.COMMIT.value,
    TransactionKind.RELEASE.value,
    TransactionKind.HOLD_EXPIRY.value,
)
#: Kinds that create a grant with new credits for the customer: a grant, or a transfer received
#: (a rollover moves credits the customer had already).
GRANTING_KINDS = (TransactionKind.GRANT.value, TransactionKind.TRANSFER.value)

MICROSECONDS_PER_SECOND = 1_000_000


def _in_range(
    customer_id: int | None,
    unit: str,
    kinds: Sequence[str],
    start: datetime,
    end: datetime | None,
) -> list[sa.ColumnElement[bool]]:
    """The customer's (None: every customer's) applied transactions of ``kinds`` made in
    [start, end) (end None: since start)."""
    conditions = [
        transactions.c.unit == unit,
        transactions.c.kind.in_(kinds),
        transactions.c.status == "applied",
        transactions.c.created_at >= start,
    ]
    if customer_id is not None:
        conditions.append(transactions.c.customer_id == customer_id)
    if end is not None:
        conditions.append(transactions.c.created_at < end)
    return conditions


def _chosen(
    name: str,
    customer_id: int | None,
    unit: str,
    kinds: Sequence[str],
    start: datetime,
    end: datetime | None,
) -> sa.CTE:
    """The ids and amounts of ``_in_range``'s transactions, as a MATERIALIZED common table
    expression: a fence that makes the database find them first (an index range) and join
    their entries after."""
    return (
        sa.select(transactions.c.id, transactions.c.amount)
        .where(*_in_range(customer_id, unit, kinds, start, end))
        .cte(name)
        .prefix_with("MATERIALIZED")
    )


def totals_by_kind(
    connection: Connection,
    customer_id: int | None,
    unit: str,
    kinds: Sequence[str],
    start: datetime,
    end: datetime,
) -> dict[str, tuple[int, int]]:
    """(steps, transactions) of each kind the customer made in [start, end)."""
    rows = connection.execute(
        sa.select(
            transactions.c.kind,
            sa.func.coalesce(sa.func.sum(transactions.c.amount), 0),
            sa.func.count(),
        )
        .where(*_in_range(customer_id, unit, kinds, start, end))
        .group_by(transactions.c.kind)
    )
    return {row[0]: (int(row[1]), int(row[2])) for row in rows}


def issued_and_held_breakage(
    connection: Connection,
    customer_id: int | None,
    unit: str,
    start: datetime,
    end: datetime,
    issuance_account_id: int,
    expiry_account_id: int,
) -> tuple[int, int]:
    """(issued, expired) by the customer's transactions in [start, end): steps that left the
    issuance account for anything but a grant, net of what holds gave back to it (the ledger's
    ``issued_on_demand``), and steps that holds gave to the expiry account because the grant
    they came from had expired while held."""

    # Each transaction's legs are looked up by ``ix_entries_transaction_id`` in a correlated
    # subquery: a join would let PostgreSQL scan all of ``entries`` for the system accounts'
    # rows, which its statistics may expect to be few, at a cost that grows with the ledger.
    def leg(account_id: int) -> sa.ScalarSelect[Any]:
        return (
            sa.select(sa.func.coalesce(sa.func.sum(entries.c.amount), 0))
            .where(
                entries.c.transaction_id == transactions.c.id,
                entries.c.account_id == account_id,
            )
            .scalar_subquery()
        )

    # Only a hold's settlement can give credits to the expiry account: the CASE spares every
    # charge (most of the rows) that second lookup.
    expired = sa.case((transactions.c.kind.in_(HOLD_SETTLE_KINDS), leg(expiry_account_id)), else_=0)
    row = connection.execute(
        sa.select(
            sa.func.coalesce(sa.func.sum(-leg(issuance_account_id)), 0),
            sa.func.coalesce(sa.func.sum(expired), 0),
        ).where(*_in_range(customer_id, unit, HOLD_AND_ISSUE_KINDS, start, end))
    ).one()
    return int(row[0]), int(row[1])


def grants_expired(
    connection: Connection, customer_id: int | None, unit: str, start: datetime, end: datetime
) -> int:
    """Steps the customer's grants still held when they expired in (start, end]. Counted at
    the grant's ``expires_at``, not when the sweep recorded it (at the next touch, maybe in a
    later period), and in the period whose last moment they counted in: credits stop counting
    at ``expires_at`` exactly, so an allowance expiring at its period's end is that period's
    breakage. A sweep is never before the expiry, so ``created_at > start`` bounds the index
    range."""
    expiries = _chosen("expiries", customer_id, unit, (TransactionKind.EXPIRY.value,), start, None)
    row = connection.execute(
        sa.select(sa.func.coalesce(sa.func.sum(expiries.c.amount), 0))
        .select_from(
            expiries.join(entries, entries.c.transaction_id == expiries.c.id).join(
                grants, grants.c.account_id == entries.c.account_id
            )
        )
        .where(grants.c.expires_at > start, grants.c.expires_at <= end)
    ).one()
    return int(row[0])


def granted_by_source(
    connection: Connection, customer_id: int, unit: str, start: datetime, end: datetime
) -> dict[str, int]:
    """Steps granted to the customer in [start, end), by source. Read from the customer's grant
    accounts (``ix_accounts_customer_grants``): a customer has few grants however much it
    spends."""
    rows = connection.execute(
        sa.select(grants.c.source, sa.func.sum(grants.c.amount_granted))
        .select_from(
            accounts.join(grants, grants.c.account_id == accounts.c.id).join(
                transactions, transactions.c.id == grants.c.transaction_id
            )
        )
        .where(
            accounts.c.customer_id == customer_id,
            accounts.c.unit == unit,
            accounts.c.kind == "grant",
            transactions.c.kind.in_(GRANTING_KINDS),
            transactions.c.created_at >= start,
            transactions.c.created_at < end,
        )
        .group_by(grants.c.source)
    )
    return {row[0]: int(row[1]) for row in rows}


def category_of_action(categories: Mapping[str, str]) -> sa.ColumnElement[Any]:
    """The category of a transaction's action, as SQL (NULL for an action without one)."""
    if not categories:
        return sa.null()
    return sa.case(categories, value=transactions.c.action, else_=sa.null())


def spend_by_key(
    connection: Connection,
    customer_id: int | None,
    unit: str,
    start: datetime,
    end: datetime,
    key: sa.ColumnElement[Any],
    limit: int,
) -> list[tuple[str | None, int, int]]:
    """(key, steps, charges) of the customer's spending in [start, end) grouped by ``key``, the
    ``limit`` largest: most spent first, then most charges, then by key with NULL last."""
    spending = (
        sa.select(key.label("key"), transactions.c.amount)
        .where(*_in_range(customer_id, unit, SPEND_KINDS, start, end))
        .subquery()
    )
    spent = sa.func.sum(spending.c.amount)
    charges = sa.func.count()
    rows = connection.execute(
        sa.select(spending.c.key, spent, charges)
        .group_by(spending.c.key)
        .order_by(spent.desc(), charges.desc(), spending.c.key.is_(None), spending.c.key)
        .limit(limit)
    )
    return [(row[0], int(row[1]), int(row[2])) for row in rows]


def spend_by_bucket(
    connection: Connection,
    customer_id: int,
    unit: str,
    start: datetime,
    end: datetime,
    origin: datetime,
    width_seconds: int,
) -> dict[int, tuple[int, int]]:
    """(steps, charges) of the customer's spending in [start, end) by bucket: bucket ``i`` holds
    [origin + i * width, origin + (i + 1) * width). ``origin`` <= ``start``, so no bucket is
    negative. The bucket is computed in SQL so that only one row per bucket comes back."""
    assert origin <= start and width_seconds > 0
    bucket: sa.ColumnElement[Any]
    if connection.dialect.name == "sqlite":
        # Times are integer microseconds there (tables.UtcDateTime): integer division floors.
        since_origin = sa.type_coerce(transactions.c.created_at, sa.BigInteger) - sa.literal(
            to_epoch_microseconds(origin), sa.BigInteger
        )
        bucket = since_origin.self_group().op("/")(
            sa.literal(width_seconds * MICROSECONDS_PER_SECOND)
        )
    else:
        # extract(epoch) is an exact numeric on PostgreSQL 14 and later.
        seconds = sa.extract(
            "epoch",
            sa.type_coerce(transactions.c.created_at, sa.DateTime(timezone=True))
            - sa.literal(origin, sa.DateTime(timezone=True)),
        )
        bucket = sa.cast(sa.func.floor(seconds / width_seconds), sa.BigInteger)
    spending = (
        sa.select(bucket.label("bucket"), transactions.c.amount)
        .where(*_in_range(customer_id, unit, SPEND_KINDS, start, end))
        .subquery()
    )
    rows = connection.execute(
        sa.select(spending.c.bucket, sa.func.sum(spending.c.amount), sa.func.count()).group_by(
            spending.c.bucket
        )
    )
    return {int(row[0]): (int(row[1]), int(row[2])) for row in rows}
