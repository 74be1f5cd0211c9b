"""Usage's SQL: sums over the ledger's own rows and the rollups kept with them. Read-only;
decides nothing.

Spending (charges and hold commits) is read from ``usage_rollups`` for the whole hours of a
range and from the ledger's rows for the partial hours at its edges (``buckets.split``): the
answer is exact, and its cost is a row per hour and key plus at most two hours of charges,
whatever the length of the customer's history. The rest (transfers, holds, expiries, grants)
is read from the ledger's rows by ``ix_transactions_customer_usage`` (customer, unit, kind,
created_at): its cost grows with those rows in the range, which charges do not add to.

A ``customer_id`` of None selects every customer's rows (the operator's analytics): a scan of
the range's rows, read rarely, rather than one more index every ledger write would pay.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from creditkit.ledger.schemas import TransactionKind
from creditkit.store.tables import (
    accounts,
    entries,
    grants,
    transactions,
    usage_rollups,
)
from creditkit.usage import buckets

#: What spending is: charges, and commits of holds (a reserve only sets credits aside), less
#: the reversals of charges.
SPEND_KINDS = (
    TransactionKind.CHARGE.value,
    TransactionKind.COMMIT.value,
    TransactionKind.REVERSAL.value,
)
#: The moment spending counts at: when its usage happened (late usage, a reversal counted with
#: its charge), else when it was made.
COUNTED_AT: sa.ColumnElement[Any] = sa.func.coalesce(
    transactions.c.occurred_at, transactions.c.created_at
)
#: Spending's steps: a reversal's give steps back.
SIGNED_STEPS: sa.ColumnElement[Any] = sa.case(
    (transactions.c.kind == TransactionKind.REVERSAL.value, -transactions.c.amount),
    else_=transactions.c.amount,
)
#: How many charges spending counts as: a reversal leaves the count as it was.
CHARGE_COUNT: sa.ColumnElement[Any] = sa.case(
    (transactions.c.kind == TransactionKind.REVERSAL.value, 0), else_=1
)
#: Kinds other than spending whose entries may move credits from the issuance account (a
#: reserve beyond the grants, and a release or timeout giving such credits back) or to the
#: expiry account (a release or timeout of credits held from a grant that expired while they
#: were held). Spending's own such legs are in the rollups (``issued``, ``expired``).
HOLD_KINDS = (
    TransactionKind.RESERVE.value,
    TransactionKind.EXTEND.value,
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


#: The spenders (external ids) a read is limited to: None reads every spender's and the
#: customer's own.
Spenders = Sequence[str] | None


def transactions_in_range(
    customer_id: int | None,
    unit: str,
    kinds: Sequence[str],
    start: datetime,
    end: datetime | None,
    spenders: Spenders = None,
) -> list[sa.ColumnElement[bool]]:
    """The customer's (None: every customer's) applied transactions of ``kinds`` made in
    [start, end) (end None: since start), of ``spenders`` only when given."""
    conditions = [
        transactions.c.unit == unit,
        transactions.c.kind.in_(kinds),
        transactions.c.status == "applied",
    ]
    if TransactionKind.REVERSAL.value in kinds:
        # Spending counts at the moment its usage happened (``COUNTED_AT``); written as two
        # ranges so that each may use its own index.
        made = [transactions.c.occurred_at.is_(None), transactions.c.created_at >= start]
        happened = [transactions.c.occurred_at >= start]
        if end is not None:
            made.append(transactions.c.created_at < end)
            happened.append(transactions.c.occurred_at < end)
        conditions.append(sa.or_(sa.and_(*made), sa.and_(*happened)))
    else:
        conditions.append(transactions.c.created_at >= start)
        if end is not None:
            conditions.append(transactions.c.created_at < end)
    if customer_id is not None:
        conditions.append(transactions.c.customer_id == customer_id)
    if spenders is not None:
        conditions.append(transactions.c.spender.in_(spenders))
    return conditions


def _chosen(
    name: str,
    customer_id: int | None,
    unit: str,
    kinds: Sequence[str],
    start: datetime,
    end: datetime | None,
) -> sa.CTE:
    """The ids and amounts of ``transactions_in_range``'s transactions, as a MATERIALIZED common
    table expression: a fence that makes the database find them first (an index range) and join
    their entries after."""
    return (
        sa.select(transactions.c.id, transactions.c.amount)
        .where(*transactions_in_range(customer_id, unit, kinds, start, end))
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
        .where(*transactions_in_range(customer_id, unit, kinds, start, end))
        .group_by(transactions.c.kind)
    )
    return {row[0]: (int(row[1]), int(row[2])) for row in rows}


def _leg(account_id: int) -> sa.ScalarSelect[Any]:
    """The sum of a transaction's entries on ``account_id``, as a correlated subquery."""
    # Each transaction's legs are looked up by ``ix_entries_transaction_id``: a join would let
    # PostgreSQL scan all of ``entries`` for the system accounts' rows, which its statistics
    # may expect to be few, at a cost that grows with the ledger.
    return (
        sa.select(sa.func.coalesce(sa.func.sum(entries.c.amount), 0))
        .where(entries.c.transaction_id == transactions.c.id, entries.c.account_id == account_id)
        .scalar_subquery()
    )


def _issued_and_expired(
    connection: Connection,
    conditions: list[sa.ColumnElement[bool]],
    issuance_account_id: int,
    expiry_account_id: int,
) -> tuple[int, int]:
    """(issued, expired) of the transactions that ``conditions`` pick: steps that left the
    issuance account, net of what came back to it, and steps given to the expiry account."""
    # Only a hold's settlement and a reversal (the part of an expired grant) can give credits
    # to the expiry account: the CASE spares every charge that second lookup.
    expired = sa.case(
        (
            transactions.c.kind.in_((*HOLD_SETTLE_KINDS, TransactionKind.REVERSAL.value)),
            _leg(expiry_account_id),
        ),
        else_=0,
    )
    row = connection.execute(
        sa.select(
            sa.func.coalesce(sa.func.sum(-_leg(issuance_account_id)), 0),
            sa.func.coalesce(sa.func.sum(expired), 0),
        ).where(*conditions)
    ).one()
    return int(row[0]), int(row[1])


def hold_issued_and_expired(
    connection: Connection,
    customer_id: int | None,
    unit: str,
    start: datetime,
    end: datetime,
    issuance_account_id: int,
    expiry_account_id: int,
    spenders: Spenders = None,
) -> tuple[int, int]:
    """(issued, expired) by the customer's reserves, releases and hold timeouts in [start,
    end): what spending's rollups leave out of the ledger's ``issued_on_demand`` and of held
    breakage."""
    return _issued_and_expired(
        connection,
        transactions_in_range(customer_id, unit, HOLD_KINDS, start, end, spenders),
        issuance_account_id,
        expiry_account_id,
    )


@dataclass(frozen=True, slots=True)
class SpendTotals:
    """What charges and hold commits did over a range: the steps they spent, how many they
    were, the steps they issued beyond the grants (net) and the held steps they expired."""

    steps: int = 0
    charges: int = 0
    issued: int = 0
    expired: int = 0

    def __add__(self, other: SpendTotals) -> SpendTotals:
        return SpendTotals(
            self.steps + other.steps,
            self.charges + other.charges,
            self.issued + other.issued,
            self.expired + other.expired,
        )


def rollups_in_range(
    customer_id: int | None,
    unit: str,
    start: datetime,
    end: datetime,
    spenders: Spenders = None,
) -> list[sa.ColumnElement[bool]]:
    """The rollup rows of the customer's (None: every customer's) buckets in [start, end),
    two bucket edges, of ``spenders`` only when given."""
    conditions = [
        usage_rollups.c.unit == unit,
        usage_rollups.c.bucket_start >= start,
        usage_rollups.c.bucket_start < end,
    ]
    if customer_id is not None:
        conditions.append(usage_rollups.c.customer_id == customer_id)
    if spenders is not None:
        conditions.append(usage_rollups.c.spender.in_(spenders))
    return conditions


def spend_totals(
    connection: Connection,
    customer_id: int | None,
    unit: str,
    start: datetime,
    end: datetime,
    issuance_account_id: int,
    expiry_account_id: int,
    spenders: Spenders = None,
) -> SpendTotals:
    """The customer's spending in [start, end) (of ``spenders`` only, when given): the whole
    buckets' rollups, plus the ledger's rows at the partial edges."""
    parts = buckets.split(start, end)
    totals = SpendTotals()
    if parts.rolled is not None:
        row = connection.execute(
            sa.select(
                *(
                    sa.func.coalesce(sa.func.sum(usage_rollups.c[name]), 0)
                    for name in buckets.SUM_COLUMNS
                )
            ).where(*rollups_in_range(customer_id, unit, *parts.rolled, spenders))
        ).one()
        totals += SpendTotals(*(int(value) for value in row))
    for low, high in parts.raw:
        conditions = transactions_in_range(customer_id, unit, SPEND_KINDS, low, high, spenders)
        row = connection.execute(
            sa.select(
                sa.func.coalesce(sa.func.sum(SIGNED_STEPS), 0),
                sa.func.coalesce(sa.func.sum(CHARGE_COUNT), 0),
            ).where(*conditions)
        ).one()
        issued, expired = _issued_and_expired(
            connection, conditions, issuance_account_id, expiry_account_id
        )
        totals += SpendTotals(int(row[0]), int(row[1]), issued, expired)
    return totals


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
    # Each grant's transaction is looked up by its primary key in a correlated subquery, which
    # PostgreSQL cannot turn into a join. As a join, the generic plan of the prepared statement
    # (the driver prepares it from its fifth run) merged the grants, sorted by transaction id,
    # with the whole of ``transactions`` in id order: it expected the merge to stop past the
    # last grant, but the scan's filter passes no later row (they are charges), so every
    # customer's summary read every transaction in the ledger. The kind is written into the
    # statement, not bound, so that a generic plan too can use the partial index (a parameter
    # does not prove its predicate).
    made_in_range = (
        sa.select(
            sa.and_(
                transactions.c.kind.in_(GRANTING_KINDS),
                transactions.c.created_at >= start,
                transactions.c.created_at < end,
            )
        )
        .where(transactions.c.id == grants.c.transaction_id)
        .scalar_subquery()
    )
    rows = connection.execute(
        sa.select(grants.c.source, sa.func.sum(grants.c.amount_granted))
        .select_from(accounts.join(grants, grants.c.account_id == accounts.c.id))
        .where(
            accounts.c.customer_id == customer_id,
            accounts.c.unit == unit,
            accounts.c.kind == sa.literal_column("'grant'"),
            made_in_range,
        )
        .group_by(grants.c.source)
    )
    return {row[0]: int(row[1]) for row in rows}
