"""The ledger's history reads: a customer's transactions page by page, through the filters a
page keeps, and the transactions of the holds a page shows. They decide nothing (statements.py
does)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from creditkit.ledger.repository import TransactionRow, transaction_row
from creditkit.ledger.schemas import TransactionKind
from creditkit.store.tables import CHARGES_LEFT_OUT, transactions

#: The kinds of transaction that name a counterparty (the customer on the other side): the
#: history reads them for the counterparty too, through ``ix_transactions_counterparty_history``.
COUNTERPARTY_KINDS = frozenset({TransactionKind.TRANSFER})


@dataclass(frozen=True, slots=True)
class HistoryFilters:
    """What a history page keeps: transactions of ``kinds`` (None: every kind), of ``action``,
    created in [start, end) (either bound may be None: unbounded)."""

    kinds: frozenset[TransactionKind] | None = None
    action: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    #: Spent, held or moved by one of these spenders (None: by anyone).
    spenders: tuple[str, ...] | None = None


#: Every transaction: a history without filters.
NO_HISTORY_FILTERS = HistoryFilters()

#: Above every row id (ids are signed 64-bit): the first page's cursor.
_ID_ABOVE_ALL = 2**63 - 1


def history_transactions(
    connection: Connection,
    customer_id: int,
    unit: str,
    before_id: int | None,
    limit: int,
    filters: HistoryFilters = NO_HISTORY_FILTERS,
) -> list[TransactionRow]:
    """Applied transactions the customer took part in that pass ``filters``, newest first, older
    than ``before_id``.

    Each side (the customer's own transactions, and those naming it as counterparty) is read as
    an index range, newest first, that stops at ``limit`` rows: the customer's own through
    ``ix_transactions_customer_history`` (customer, unit, id), or with ``kinds`` one range per
    kind through ``ix_transactions_customer_kind_history`` (customer, unit, kind, id), so that a
    rare kind costs its own rows, not a walk through the customer's other transactions."""
    before = _ID_ABOVE_ALL if before_id is None else before_id
    sqlite = connection.dialect.name == "sqlite"

    def side(column: sa.Column[Any], kind: TransactionKind | None) -> sa.Subquery:
        # The leading columns of the side's index, with the values they must equal.
        equal: dict[sa.Column[Any], Any] = {column: customer_id, transactions.c.unit: unit}
        conditions: list[sa.ColumnElement[bool] | sa.TextClause] = [
            transactions.c.status == "applied",
            transactions.c.id < before,
        ]
        if kind is TransactionKind.CHARGE and column is transactions.c.customer_id:
            # The kind index leaves charges out (migrations 0028 and 0029): a page of charges
            # walks the history index, where nearly every row is one (on SQLite, the unary +
            # keeps the planner off the indexes that lead with the kind; on PostgreSQL, the row
            # comparison below, which only the history index can take).
            conditions.append(
                sa.text("+transactions.kind = 'charge'")
                if sqlite
                else transactions.c.kind == kind.value
            )
        elif kind is not None and column is transactions.c.customer_id:
            equal[transactions.c.kind] = kind.value
            # The planner takes a partial index only for a query that states its condition.
            conditions.append(sa.text(f"transactions.{CHARGES_LEFT_OUT}"))
        elif kind is not None:
            conditions.append(transactions.c.kind == kind.value)
        conditions += [key == value for key, value in equal.items()]
        # The page's bound again, as a row comparison over the index's columns, which only
        # that index can take: with ``id < before`` alone, PostgreSQL may walk the primary key
        # backwards instead, through every other customer's newer rows, expecting a customer
        # with many rows to have some near the end (they are not spread evenly). It estimates
        # a row comparison as selective, so such a walk as costly.
        conditions.append(
            sa.tuple_(*equal, transactions.c.id)
            < sa.tuple_(
                *(sa.literal(value, key.type) for key, value in equal.items()),
                sa.literal(before, transactions.c.id.type),
            )
        )
        query = sa.select(transactions).where(*conditions, *_filter_conditions(filters, False))
        return query.order_by(transactions.c.id.desc()).limit(limit).subquery()

    own = transactions.c.customer_id
    received = transactions.c.counterparty_id
    if filters.kinds is None:
        branches = [side(own, None), side(received, None)]
    else:
        kinds = sorted(filters.kinds)
        branches = [side(own, kind) for kind in kinds]
        # Only some kinds name a counterparty: for the others, nothing was received.
        branches += [side(received, kind) for kind in kinds if kind in COUNTERPARTY_KINDS]
    every = sa.union(*(sa.select(branch) for branch in branches)).subquery()
    rows = connection.execute(sa.select(every).order_by(every.c.id.desc()).limit(limit))
    return [transaction_row(row) for row in rows]


def _filter_conditions(filters: HistoryFilters, with_kinds: bool) -> list[sa.ColumnElement[bool]]:
    """``filters`` as SQL conditions (``kinds`` only when ``with_kinds``: the history's sides
    read each kind as its own index range)."""
    conditions: list[sa.ColumnElement[bool]] = []
    if with_kinds and filters.kinds is not None:
        conditions.append(transactions.c.kind.in_(sorted(k.value for k in filters.kinds)))
    if filters.action is not None:
        conditions.append(transactions.c.action == filters.action)
    if filters.spenders is not None:
        conditions.append(transactions.c.spender.in_(filters.spenders))
    if filters.start is not None:
        conditions.append(transactions.c.created_at >= filters.start)
    if filters.end is not None:
        conditions.append(transactions.c.created_at < filters.end)
    return conditions


def newest_hold_transactions(
    connection: Connection, hold_ids: Sequence[int], filters: HistoryFilters
) -> dict[int, int]:
    """For each hold, the id of its newest applied transaction that passes ``filters``: where
    the history shows the hold's one line (through ``ix_transactions_hold_writes``)."""
    if not hold_ids:
        return {}
    rows = connection.execute(
        sa.select(transactions.c.hold_id, sa.func.max(transactions.c.id))
        .where(
            transactions.c.hold_id.in_(list(hold_ids)),
            transactions.c.status == "applied",
            *_filter_conditions(filters, True),
        )
        .group_by(transactions.c.hold_id)
    )
    return {int(row[0]): int(row[1]) for row in rows}


def hold_transactions(
    connection: Connection, hold_ids: Sequence[int], limit: int
) -> dict[int, list[TransactionRow]]:
    """Each hold's applied transactions, oldest first, at most ``limit`` per hold (its reserve
    first): one statement whatever the number of holds (a page's cost does not grow with it)."""
    found: dict[int, list[TransactionRow]] = {hold_id: [] for hold_id in hold_ids}
    if not hold_ids:
        return found
    rank = (
        sa.func.row_number()
        .over(partition_by=transactions.c.hold_id, order_by=transactions.c.id)
        .label("rank")
    )
    ranked = (
        sa.select(transactions, rank)
        .where(transactions.c.hold_id.in_(list(hold_ids)), transactions.c.status == "applied")
        .subquery()
    )
    rows = connection.execute(
        sa.select(*(ranked.c[column.name] for column in transactions.c))
        .where(ranked.c.rank <= limit)
        .order_by(ranked.c.hold_id, ranked.c.id)
    )
    for row in rows:
        found[row.hold_id].append(transaction_row(row))
    return found
