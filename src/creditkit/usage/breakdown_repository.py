"""Usage's SQL, broken down: spending by key (an action, a member, a category, a spender), by
spender kind, by a declared metadata dimension and by time bucket, and the SQL that names a
spending's category and dimension values. Read-only; decides nothing.

Each breakdown reads ``usage_rollups`` (or ``usage_dimension_rollups``) for the whole hours of a
range and the ledger's rows for the partial hours at its edges, as ``repository`` explains.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection

from creditkit.errors import require
from creditkit.ledger.schemas import TransactionKind
from creditkit.store.tables import (
    holds,
    to_epoch_microseconds,
    transactions,
    usage_dimension_rollups,
    usage_dimensions,
    usage_rollups,
)
from creditkit.store.tables import spenders as spenders_table
from creditkit.usage import buckets
from creditkit.usage.repository import (
    CHARGE_COUNT,
    COUNTED_AT,
    MICROSECONDS_PER_SECOND,
    SIGNED_STEPS,
    SPEND_KINDS,
    Spenders,
    rollups_in_range,
    transactions_in_range,
)


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
            ).where(*rollups_in_range(customer_id, unit, *parts.rolled, spenders))
        )
    selects.extend(
        sa.select(
            transactions.c.action.label("action"),
            transactions.c.member.label("member"),
            transactions.c.spender.label("spender"),
            transactions.c.customer_id.label("customer_id"),
            SIGNED_STEPS.label("steps"),
            CHARGE_COUNT.label("charges"),
        ).where(*transactions_in_range(customer_id, unit, SPEND_KINDS, low, high, spenders))
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
        rolled = rollups_in_range(customer_id, unit, *parts.rolled)
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
        ).where(*transactions_in_range(customer_id, unit, SPEND_KINDS, low, high, spenders))
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
        .where(*transactions_in_range(customer_id, unit, SPEND_KINDS, start, end))
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
            .where(*rollups_in_range(customer_id, unit, *parts.rolled))
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
