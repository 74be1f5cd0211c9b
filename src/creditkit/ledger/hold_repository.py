"""The SQL of holds: credits set aside by a reserve until its commit or release. Functions here
read and write rows; they decide nothing (holds.py and timeline.py do)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from creditkit.errors import InvariantViolation
from creditkit.ledger.schemas import HoldStatus, TransactionKind
from creditkit.store.tables import customers, holds, transactions


@dataclass(frozen=True, slots=True)
class HoldRow:
    account_id: int
    customer_id: int
    external_id: str
    unit: str
    amount_held: int
    status: HoldStatus
    action: str | None
    expires_at: datetime
    created_at: datetime
    amount_committed: int | None
    reserve_transaction_id: int
    metadata: dict[str, Any]
    #: Who holds it (its reserve's spender; None: the customer itself).
    spender: str | None = None


def _hold_row(row: sa.Row[Any]) -> HoldRow:
    return HoldRow(
        account_id=row.account_id,
        customer_id=row.customer_id,
        external_id=row.external_id,
        unit=row.unit,
        amount_held=row.amount_held,
        status=HoldStatus(row.status),
        action=row.action,
        expires_at=row.expires_at,
        created_at=row.created_at,
        amount_committed=row.amount_committed,
        reserve_transaction_id=row.reserve_transaction_id,
        metadata=row.metadata,
        spender=row.spender,
    )


def _hold_query() -> sa.Select[Any]:
    reserve = transactions.alias("reserve")
    spender = (
        sa.select(reserve.c.spender)
        .where(reserve.c.id == holds.c.reserve_transaction_id)
        .scalar_subquery()
        .label("spender")
    )
    return sa.select(holds, customers.c.external_id, spender).join(
        customers, customers.c.id == holds.c.customer_id
    )


def read_hold(connection: Connection, hold_id: int) -> HoldRow | None:
    row = connection.execute(_hold_query().where(holds.c.account_id == hold_id)).first()
    return None if row is None else _hold_row(row)


def read_holds(connection: Connection, hold_ids: Sequence[int]) -> dict[int, HoldRow]:
    """The holds by id, in one statement (a history page's commits)."""
    if not hold_ids:
        return {}
    rows = connection.execute(_hold_query().where(holds.c.account_id.in_(list(hold_ids))))
    return {row.account_id: _hold_row(row) for row in rows}


def due_holds(
    connection: Connection, customer_id: int, until: datetime, limit: int
) -> list[HoldRow]:
    """The customer's active holds that time out at or before ``until``, in the order they time
    out, at most ``limit``."""
    rows = connection.execute(
        _hold_query()
        .where(
            holds.c.customer_id == customer_id,
            holds.c.status == HoldStatus.ACTIVE,
            holds.c.expires_at <= until,
        )
        .order_by(holds.c.expires_at, holds.c.account_id)
        .limit(limit)
    )
    return [_hold_row(row) for row in rows]


def earliest_hold_expiry(connection: Connection, customer_id: int) -> datetime | None:
    value: datetime | None = connection.execute(
        sa.select(sa.func.min(holds.c.expires_at)).where(
            holds.c.customer_id == customer_id, holds.c.status == HoldStatus.ACTIVE
        )
    ).scalar()
    return value


def customer_holds(
    connection: Connection, customer_id: int, status: HoldStatus, limit: int
) -> list[HoldRow]:
    """The customer's holds in ``status``, newest first, at most ``limit``."""
    query = _hold_query().where(holds.c.customer_id == customer_id, holds.c.status == status)
    if status is not HoldStatus.ACTIVE:
        # Only active holds are indexed by customer (``ix_holds_active``). Closed ones are
        # found from the customer's reserve transactions (``ix_transactions_customer_usage``),
        # each naming its hold's primary key, so that no query scans every customer's holds.
        query = query.join(transactions, transactions.c.hold_id == holds.c.account_id).where(
            transactions.c.customer_id == customer_id,
            transactions.c.kind == TransactionKind.RESERVE.value,
        )
    rows = connection.execute(query.order_by(holds.c.account_id.desc()).limit(limit))
    return [_hold_row(row) for row in rows]


def held_total(connection: Connection, customer_id: int, unit: str) -> int:
    total = connection.execute(
        sa.select(sa.func.coalesce(sa.func.sum(holds.c.amount_held), 0)).where(
            holds.c.customer_id == customer_id,
            holds.c.unit == unit,
            holds.c.status == HoldStatus.ACTIVE,
        )
    ).scalar_one()
    return int(total)


def insert_hold(connection: Connection, values: dict[str, Any]) -> None:
    connection.execute(holds.insert().values(**values))


def settle_hold(
    connection: Connection,
    hold_id: int,
    status: HoldStatus,
    amount_committed: int | None,
    settle_transaction_id: int,
) -> None:
    result = connection.execute(
        holds.update()
        .where(holds.c.account_id == hold_id, holds.c.status == HoldStatus.ACTIVE)
        .values(
            status=status,
            amount_committed=amount_committed,
            settle_transaction_id=settle_transaction_id,
        )
    )
    # The customer lock makes this the only writer of the hold: it must still be active.
    if result.rowcount != 1:
        raise InvariantViolation("a hold settled under the customer's lock", f"hold {hold_id}")


def settle_holds_expired(connection: Connection, settled: list[tuple[int, int]]) -> None:
    """Marks the (hold id, transaction id) holds expired, in one round trip."""
    if not settled:
        return
    connection.execute(
        holds.update()
        .where(holds.c.account_id == sa.bindparam("hold_id"), holds.c.status == HoldStatus.ACTIVE)
        .values(status=HoldStatus.EXPIRED, settle_transaction_id=sa.bindparam("transaction_id")),
        [{"hold_id": hold, "transaction_id": transaction} for hold, transaction in settled],
    )
