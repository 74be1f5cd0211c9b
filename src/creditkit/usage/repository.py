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

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection

from creditkit.errors import require
from creditkit.ledger.schemas import TransactionKind
from creditkit.store.tables import (
    accounts,
    entries,
    grants,
    holds,
    to_epoch_microseconds,
    transactions,
    usage_dimension_rollups,
    usage_dimensions,
    usage_rollups,
)
from creditkit.store.tables import spenders as spenders_table
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


def _in_range(
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
        _in_range(customer_id, unit, HOLD_KINDS, start, end, spenders),
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


def _rolled(
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
            ).where(*_rolled(customer_id, unit, *parts.rolled, spenders))
        ).one()
        totals += SpendTotals(*(int(value) for value in row))
    for low, high in parts.raw:
        conditions = _in_range(customer_id, unit, SPEND_KINDS, low, high, spenders)
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


def category_of_action(
    categories: Mapping[str, str], action: sa.ColumnElement[Any]
) -> sa.ColumnElement[Any]:
    """The category of ``action``, as SQL (NULL for an action without one)."""
    if not categories:
        return sa.null()
    return sa.case(categories, value=action, else_=sa.null())


def metadata_text(
    connection: Connection, metadata: sa.ColumnElement[Any], name: str
) -> sa.ColumnElement[Any]:
    """``metadata[name]`` as text when it is a JSON string or number (a number as its decimal
    text), else NULL (no such key, true/false, null, a list, an object). ``name`` is a checked
    identifier; it is sent as a parameter anyway."""
    value: sa.ColumnElement[Any]
    if connection.dialect.name == "postgresql":
        name_ = sa.literal(name, sa.Text)
        kind = sa.func.jsonb_typeof(metadata.op("->", return_type=JSONB)(name_))
        value = metadata.op("->>", return_type=sa.Text)(name_)
        kinds: tuple[str, ...] = ("string", "number")
    else:
        path = sa.literal(f'$."{name}"', sa.Text)
        kind = sa.func.json_type(metadata, path)
        value = sa.cast(sa.func.json_extract(metadata, path), sa.Text)
        kinds = ("text", "integer", "real")
    return sa.case((kind.in_(kinds), value), else_=sa.null())


def dimension_of_spending(connection: Connection, name: str) -> sa.ColumnElement[Any]:
    """The value of metadata key ``name`` of a spending transaction, as SQL: its own metadata's,
    else, for a hold's commit, the hold's (given at reserve). The hold is looked up by its
    primary key in a correlated subquery, for commits only: most spending is charges, which
    spare the lookup."""
    hold_value = (
        sa.select(metadata_text(connection, holds.c.metadata, name))
        .where(holds.c.account_id == transactions.c.hold_id)
        .scalar_subquery()
    )
    of_hold = sa.case(
        (transactions.c.kind == TransactionKind.COMMIT.value, hold_value), else_=sa.null()
    )
    return sa.func.coalesce(metadata_text(connection, transactions.c.metadata, name), of_hold)


#: A spending key as SQL over the spending's action, member and spender columns (an action, a
#: member, a category, a spender), which both the rollups and the ledger's rows have.
SpendKey = Callable[
    [sa.ColumnElement[Any], sa.ColumnElement[Any], sa.ColumnElement[Any]], sa.ColumnElement[Any]
]


def _spending(
    customer_id: int | None, unit: str, start: datetime, end: datetime, spenders: Spenders
) -> sa.Subquery:
    """The customer's spending in [start, end) (of ``spenders`` only, when given) as (action,
    member, spender, steps, charges) rows: one per rollup row of the whole buckets, one per
    charge or commit of the partial edges."""
    parts = buckets.split(start, end)
    selects: list[sa.Select[Any]] = []
    if parts.rolled is not None:
        selects.append(
            sa.select(
                sa.func.nullif(usage_rollups.c.action, buckets.NONE).label("action"),
                sa.func.nullif(usage_rollups.c.member, buckets.NONE).label("member"),
                sa.func.nullif(usage_rollups.c.spender, buckets.NONE).label("spender"),
                usage_rollups.c.customer_id.label("customer_id"),
                usage_rollups.c.steps.label("steps"),
                usage_rollups.c.charges.label("charges"),
            ).where(*_rolled(customer_id, unit, *parts.rolled, spenders))
        )
    selects.extend(
        sa.select(
            transactions.c.action.label("action"),
            transactions.c.member.label("member"),
            transactions.c.spender.label("spender"),
            transactions.c.customer_id.label("customer_id"),
            SIGNED_STEPS.label("steps"),
            CHARGE_COUNT.label("charges"),
        ).where(*_in_range(customer_id, unit, SPEND_KINDS, low, high, spenders))
        for low, high in parts.raw
    )
    if len(selects) == 1:
        return selects[0].subquery("spending")
    return sa.union_all(*selects).subquery("spending")


def _top(
    connection: Connection, spending: sa.Subquery, key: sa.ColumnElement[Any], limit: int
) -> list[tuple[str | None, int, int]]:
    """(key, steps, charges) of ``spending`` grouped by ``key``, the ``limit`` largest: most
    spent first, then most charges, then by key with NULL last."""
    keyed = sa.select(
        key.label("key"), spending.c.steps.label("steps"), spending.c.charges.label("charges")
    ).subquery("keyed")
    spent = sa.func.sum(keyed.c.steps)
    charges = sa.func.sum(keyed.c.charges)
    rows = connection.execute(
        sa.select(keyed.c.key, spent, charges)
        .group_by(keyed.c.key)
        .order_by(spent.desc(), charges.desc(), keyed.c.key.is_(None), keyed.c.key)
        .limit(limit)
    )
    return [(row[0], int(row[1]), int(row[2])) for row in rows]


def spend_by_key(
    connection: Connection,
    customer_id: int | None,
    unit: str,
    start: datetime,
    end: datetime,
    key: SpendKey,
    limit: int,
    spenders: Spenders = None,
) -> list[tuple[str | None, int, int]]:
    """(key, steps, charges) of the customer's spending in [start, end) (of ``spenders`` only,
    when given) grouped by ``key``, the ``limit`` largest (see ``_top``), from the rollups and
    the edges' rows."""
    spending = _spending(customer_id, unit, start, end, spenders)
    key_ = key(spending.c.action, spending.c.member, spending.c.spender)
    return _top(connection, spending, key_, limit)


def spend_by_spender_kind(
    connection: Connection, unit: str, start: datetime, end: datetime, limit: int
) -> list[tuple[str | None, int, int]]:
    """(kind, steps, charges) of every customer's spending in [start, end) grouped by the kind
    of spender that spent (None: customers spending for themselves), the ``limit`` largest: the
    spender is looked up by its key per rollup row, which an operator's read can afford."""
    spending = _spending(None, unit, start, end, None)
    kind = (
        sa.select(spenders_table.c.kind)
        .where(
            spenders_table.c.customer_id == spending.c.customer_id,
            spenders_table.c.external_id == spending.c.spender,
        )
        .scalar_subquery()
    )
    return _top(connection, spending, kind, limit)


def spender_kinds(
    connection: Connection, customer_id: int, external_ids: Sequence[str]
) -> dict[str, str]:
    """The kind of each of the customer's spenders named (one statement; a breakdown's page)."""
    if not external_ids:
        return {}
    rows = connection.execute(
        sa.select(spenders_table.c.external_id, spenders_table.c.kind).where(
            spenders_table.c.customer_id == customer_id,
            spenders_table.c.external_id.in_(external_ids),
        )
    )
    return {row.external_id: row.kind for row in rows}


def dimension_filled(connection: Connection, name: str) -> bool:
    """Whether ``usage_dimension_rollups`` holds dimension ``name`` (see ``usage_dimensions``)."""
    row = connection.execute(
        sa.select(usage_dimensions.c.name).where(usage_dimensions.c.name == name)
    ).first()
    return row is not None


def bucket_of(connection: Connection, moment: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """The start of the rollup bucket that holds ``moment`` (a UtcDateTime column), as SQL."""
    if connection.dialect.name == "sqlite":
        # Integer microseconds after the epoch (positive): integer division floors them.
        width = sa.literal(buckets.BUCKET_MICROSECONDS, sa.BigInteger)
        since = sa.type_coerce(moment, sa.BigInteger).op("/")(width).self_group()
        return sa.type_coerce(since.op("*")(width), moment.type)
    utc = sa.func.timezone("UTC", moment)
    return sa.type_coerce(sa.func.timezone("UTC", sa.func.date_trunc("hour", utc)), moment.type)


def spend_by_dimension(
    connection: Connection,
    customer_id: int,
    unit: str,
    start: datetime,
    end: datetime,
    name: str,
    limit: int,
    spenders: Spenders = None,
) -> list[tuple[str | None, int, int]]:
    """(value, steps, charges) of the customer's spending in [start, end) grouped by the value
    of metadata key ``name``, the ``limit`` largest (see ``_top``). A declared dimension is read
    from its rollups for the whole buckets (the spends without a value there are the rollups'
    total less the valued ones) and from the ledger's rows at the edges; any other key the
    caller names, from the ledger's rows over the whole range."""
    parts = buckets.split(start, end)
    # The dimensions' rollups are not kept per spender: a spender's are read from its rows.
    if parts.rolled is None or spenders is not None or not dimension_filled(connection, name):
        raw = [(start, end)]
        selects: list[sa.Select[Any]] = []
    else:
        raw = list(parts.raw)
        rolled = _rolled(customer_id, unit, *parts.rolled)
        valued_conditions = [
            usage_dimension_rollups.c.unit == unit,
            usage_dimension_rollups.c.customer_id == customer_id,
            usage_dimension_rollups.c.dimension == name,
            usage_dimension_rollups.c.bucket_start >= parts.rolled[0],
            usage_dimension_rollups.c.bucket_start < parts.rolled[1],
        ]
        valued = sa.select(
            usage_dimension_rollups.c.value.label("key"),
            usage_dimension_rollups.c.steps.label("steps"),
            usage_dimension_rollups.c.charges.label("charges"),
        ).where(*valued_conditions)
        total = sa.select(
            sa.func.coalesce(sa.func.sum(usage_rollups.c.steps), 0),
            sa.func.coalesce(sa.func.sum(usage_rollups.c.charges), 0),
        ).where(*rolled)
        valued_total = sa.select(
            sa.func.coalesce(sa.func.sum(usage_dimension_rollups.c.steps), 0),
            sa.func.coalesce(sa.func.sum(usage_dimension_rollups.c.charges), 0),
        ).where(*valued_conditions)
        all_steps, all_charges = connection.execute(total).one()
        valued_steps, valued_charges = connection.execute(valued_total).one()
        selects = [valued]
        if all_charges > valued_charges:
            # The whole buckets' spends without a value: one row, the NULL group's part.
            unvalued: list[sa.ColumnElement[Any]] = [
                sa.null().label("key"),
                sa.literal(int(all_steps) - int(valued_steps), sa.BigInteger).label("steps"),
                sa.literal(int(all_charges) - int(valued_charges), sa.BigInteger).label("charges"),
            ]
            selects.append(sa.select(*unvalued))
    selects.extend(
        sa.select(
            dimension_of_spending(connection, name).label("key"),
            SIGNED_STEPS.label("steps"),
            CHARGE_COUNT.label("charges"),
        ).where(*_in_range(customer_id, unit, SPEND_KINDS, low, high, spenders))
        for low, high in raw
    )
    spending = (
        selects[0].subquery("spending")
        if len(selects) == 1
        else sa.union_all(*selects).subquery("spending")
    )
    return _top(connection, spending, spending.c.key, limit)


def _raw_buckets(
    connection: Connection,
    customer_id: int,
    unit: str,
    start: datetime,
    end: datetime,
    origin: datetime,
    width_seconds: int,
) -> dict[int, tuple[int, int]]:
    """(steps, charges) by series bucket of the ledger's spending rows in [start, end). The
    bucket is computed in SQL so that only one row per bucket comes back."""
    bucket: sa.ColumnElement[Any]
    if connection.dialect.name == "sqlite":
        # Times are integer microseconds there (tables.UtcDateTime): integer division floors.
        since_origin = sa.type_coerce(COUNTED_AT, sa.BigInteger) - sa.literal(
            to_epoch_microseconds(origin), sa.BigInteger
        )
        bucket = since_origin.self_group().op("/")(
            sa.literal(width_seconds * MICROSECONDS_PER_SECOND)
        )
    else:
        # extract(epoch) is an exact numeric on PostgreSQL 14 and later.
        seconds = sa.extract(
            "epoch",
            sa.type_coerce(COUNTED_AT, sa.DateTime(timezone=True))
            - sa.literal(origin, sa.DateTime(timezone=True)),
        )
        bucket = sa.cast(sa.func.floor(seconds / width_seconds), sa.BigInteger)
    spending = (
        sa.select(
            bucket.label("bucket"),
            SIGNED_STEPS.label("amount"),
            CHARGE_COUNT.label("charges"),
        )
        .where(*_in_range(customer_id, unit, SPEND_KINDS, start, end))
        .subquery()
    )
    rows = connection.execute(
        sa.select(
            spending.c.bucket, sa.func.sum(spending.c.amount), sa.func.sum(spending.c.charges)
        ).group_by(spending.c.bucket)
    )
    return {int(row[0]): (int(row[1]), int(row[2])) for row in rows}


def spend_by_bucket(
    connection: Connection,
    customer_id: int,
    unit: str,
    start: datetime,
    end: datetime,
    origin: datetime,
    width_seconds: int,
) -> dict[int, tuple[int, int]]:
    """(steps, charges) of the customer's spending in [start, end) by series bucket: bucket
    ``i`` holds [origin + i * width, origin + (i + 1) * width). ``origin`` <= ``start`` is a
    rollup bucket edge and the width a whole number of rollup buckets, so each rollup bucket
    lies in one series bucket."""
    require(
        origin <= start
        and width_seconds > 0
        and width_seconds % buckets.BUCKET_SECONDS == 0
        and buckets.bucket_floor(origin) == origin,
        "series buckets are whole rollup buckets",
        f"{width_seconds} s from {origin}",
    )
    parts = buckets.split(start, end)
    sums: dict[int, tuple[int, int]] = {}

    def add(index: int, steps: int, charges: int) -> None:
        steps_before, charges_before = sums.get(index, (0, 0))
        sums[index] = (steps_before + steps, charges_before + charges)

    if parts.rolled is not None:
        rows = connection.execute(
            sa.select(
                usage_rollups.c.bucket_start,
                sa.func.sum(usage_rollups.c.steps),
                sa.func.sum(usage_rollups.c.charges),
            )
            .where(*_rolled(customer_id, unit, *parts.rolled))
            .group_by(usage_rollups.c.bucket_start)
        )
        width = timedelta(seconds=width_seconds)
        for bucket_start, steps, charges in rows:
            add((bucket_start - origin) // width, int(steps), int(charges))
    for low, high in parts.raw:
        raw = _raw_buckets(connection, customer_id, unit, low, high, origin, width_seconds)
        for index, (steps, charges) in raw.items():
            add(index, steps, charges)
    return sums
