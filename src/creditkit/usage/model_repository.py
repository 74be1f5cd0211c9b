"""The SQL of usage by model: the charges and commits of token-priced actions in a range, with
the price record their metadata carries."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from creditkit.ledger.schemas import TransactionKind
from creditkit.store.tables import transactions

_SPENDS = (TransactionKind.CHARGE.value, TransactionKind.COMMIT.value)


def priced_spends(
    connection: Connection,
    customer_id: int,
    unit: str,
    start: datetime,
    end: datetime,
    actions: Sequence[str],
    rows_max: int,
) -> list[sa.Row[Any]]:
    """(amount, spender, metadata) of the applied charges and commits of ``actions`` in
    [start, end), oldest first, at most ``rows_max``."""
    return list(
        connection.execute(
            sa.select(transactions.c.amount, transactions.c.spender, transactions.c.metadata)
            .where(
                transactions.c.customer_id == customer_id,
                transactions.c.unit == unit,
                transactions.c.status == "applied",
                transactions.c.kind.in_(
                    (TransactionKind.CHARGE.value, TransactionKind.COMMIT.value)
                ),
                transactions.c.action.in_(list(actions)),
                transactions.c.created_at >= start,
                transactions.c.created_at < end,
            )
            .order_by(transactions.c.id)
            .limit(rows_max)
        )
    )
