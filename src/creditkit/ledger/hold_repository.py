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
from creditkit.store.tables import accounts, customers, entries, holds, transactions


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
    #: The hold it was taken under (None: a root), its tree's root, and its depth (0: a root).
    parent_id: int | None = None
    root_id: int | None = None
    depth: int = 0
    #: Steps in the hold's account now: what it holds less what it committed and what its
    #: open children took from it (each child's account holds those).
    balance: int = 0

    @property
    def committed(self) -> int:
        return self.amount_committed or 0


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
        parent_id=row.parent_id,
        root_id=row.root_id,
        depth=row.depth,
        balance=row.balance,
    )


def _hold_query() -> sa.Select[Any]:
    reserve = transactions.alias("reserve")
    spender = (
        sa.select(reserve.c.spender)
        .where(reserve.c.id == holds.c.reserve_transaction_id)
        .scalar_subquery()
        .label("spender")
    )
    return (
        sa.select(holds, customers.c.external_id, accounts.c.balance, spender)
        .join(customers, customers.c.id == holds.c.customer_id)
        .join(accounts, accounts.c.id == holds.c.account_id)
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
    out, at most ``limit``: a child before its parent when they time out at the same instant
    (deepest first), so that the child's credits are back in its parent when the parent
    closes."""
    rows = connection.execute(
        _hold_query()
        .where(
            holds.c.customer_id == customer_id,
            holds.c.status == HoldStatus.ACTIVE,
            holds.c.expires_at <= until,
        )
        .order_by(holds.c.expires_at, holds.c.depth.desc(), holds.c.account_id)
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
    """What the customer's active holds of ``unit`` hold now: the sum of their accounts, so
    that a child's credits (moved out of its parent's account) and what a hold committed in
    part are not counted twice."""
    total = connection.execute(
        sa.select(sa.func.coalesce(sa.func.sum(accounts.c.balance), 0))
        .select_from(holds)
        .join(accounts, accounts.c.id == holds.c.account_id)
        .where(
            holds.c.customer_id == customer_id,
            holds.c.unit == unit,
            holds.c.status == HoldStatus.ACTIVE,
        )
    ).scalar_one()
    return int(total)


def open_children(connection: Connection, parent_ids: Sequence[int], limit: int) -> list[HoldRow]:
    """The active holds taken directly under ``parent_ids``, at most ``limit``, oldest first."""
    if not parent_ids:
        return []
    rows = connection.execute(
        _hold_query()
        .where(holds.c.parent_id.in_(list(parent_ids)), holds.c.status == HoldStatus.ACTIVE)
        .order_by(holds.c.account_id)
        .limit(limit)
    )
    return [_hold_row(row) for row in rows]


def open_in_tree(connection: Connection, root_id: int) -> int:
    """How many active holds are below the root ``root_id``."""
    count = connection.execute(
        sa.select(sa.func.count()).where(
            holds.c.root_id == root_id, holds.c.status == HoldStatus.ACTIVE
        )
    ).scalar_one()
    return int(count)


def extension_transactions(
    connection: Connection, hold_ids: Sequence[int], before: int | None = None
) -> list[tuple[int, int]]:
    """(transaction id, hold id) of the extends that raised the holds' amounts, oldest first
    (through ``ix_transactions_hold_writes``); with ``before``, those before that transaction."""
    if not hold_ids:
        return []
    query = sa.select(transactions.c.id, transactions.c.hold_id).where(
        transactions.c.hold_id.in_(list(hold_ids)),
        transactions.c.kind == TransactionKind.EXTEND.value,
        transactions.c.status == "applied",
        transactions.c.amount > 0,
    )
    if before is not None:
        query = query.where(transactions.c.id < before)
    rows = connection.execute(query.order_by(transactions.c.id))
    return [(row.id, row.hold_id) for row in rows]


def timeout_changes(
    connection: Connection, hold_id: int, before: int
) -> list[tuple[int, datetime, str]]:
    """(transaction id, created at, request) of the hold's reserve and applied extends before
    transaction ``before``, oldest first: what its timeout was made of."""
    rows = connection.execute(
        sa.select(transactions.c.id, transactions.c.created_at, transactions.c.request)
        .where(
            transactions.c.hold_id == hold_id,
            transactions.c.kind.in_([TransactionKind.RESERVE.value, TransactionKind.EXTEND.value]),
            transactions.c.status == "applied",
            transactions.c.id < before,
        )
        .order_by(transactions.c.id)
    )
    return [(row.id, row.created_at, row.request) for row in rows]


def _root_of(hold: sa.FromClause) -> sa.ColumnElement[Any]:
    """The root of the tree the hold is in (a root is its own)."""
    return sa.func.coalesce(hold.c.root_id, hold.c.account_id)


def funding_entries(
    connection: Connection, root_ids: Sequence[int]
) -> list[tuple[int, int, int, int, str]]:
    """(root id, transaction id, account id, steps, account kind) the root holds' reserves and
    extends drew (grants, or what an unlimited plan issued), in the order drawn."""
    if not root_ids:
        return []
    rows = connection.execute(
        sa.select(
            transactions.c.hold_id,
            entries.c.transaction_id,
            entries.c.account_id,
            entries.c.amount,
            accounts.c.kind,
        )
        .select_from(
            entries.join(transactions, transactions.c.id == entries.c.transaction_id).join(
                accounts, accounts.c.id == entries.c.account_id
            )
        )
        .where(
            transactions.c.hold_id.in_(list(root_ids)),
            transactions.c.kind.in_([TransactionKind.RESERVE.value, TransactionKind.EXTEND.value]),
            transactions.c.status == "applied",
            entries.c.amount < 0,
        )
        .order_by(entries.c.id)
    )
    return [
        (row.hold_id, row.transaction_id, row.account_id, -row.amount, row.kind) for row in rows
    ]


def tree_commits(
    connection: Connection, transaction_ids: Sequence[int]
) -> dict[int, tuple[int, int, int, int]]:
    """For each of the commits ``transaction_ids`` (of holds in any trees): the root of its
    tree, its amount, the steps it moved out of the tree's holds, and the steps the tree's
    commits before it moved out of them (a child's final commit giving the rest to its parent
    moves only what it spent; a commit's excess above its hold never passes through a hold).
    One statement, whatever the number of commits and trees."""
    if not transaction_ids:
        return {}
    own, drawn_from = holds.alias("own"), holds.alias("drawn_from")
    asked, asked_hold = transactions.alias("asked"), holds.alias("asked_hold")
    roots = (
        sa.select(_root_of(asked_hold))
        .select_from(asked.join(asked_hold, asked_hold.c.account_id == asked.c.hold_id))
        .where(asked.c.id.in_(list(transaction_ids)))
    )
    # Each commit in those trees, with what it moved out of its tree's holds.
    moved = (
        sa.select(
            transactions.c.id.label("id"),
            _root_of(own).label("root_id"),
            sa.func.sum(-entries.c.amount).label("steps"),
        )
        .select_from(
            transactions.join(own, own.c.account_id == transactions.c.hold_id)
            .join(entries, entries.c.transaction_id == transactions.c.id)
            .join(drawn_from, drawn_from.c.account_id == entries.c.account_id)
        )
        .where(
            transactions.c.kind == TransactionKind.COMMIT.value,
            transactions.c.status == "applied",
            _root_of(own).in_(roots),
            _root_of(drawn_from) == _root_of(own),
        )
        .group_by(transactions.c.id, _root_of(own))
        .subquery("moved")
    )
    later, later_hold = transactions.alias("later"), holds.alias("later_hold")
    rows = connection.execute(
        sa.select(
            later.c.id,
            _root_of(later_hold),
            later.c.amount,
            sa.func.coalesce(
                sa.func.sum(sa.case((moved.c.id == later.c.id, moved.c.steps), else_=0)), 0
            ),
            sa.func.coalesce(
                sa.func.sum(sa.case((moved.c.id < later.c.id, moved.c.steps), else_=0)), 0
            ),
        )
        .select_from(
            later.join(later_hold, later_hold.c.account_id == later.c.hold_id).outerjoin(
                moved,
                sa.and_(moved.c.root_id == _root_of(later_hold), moved.c.id <= later.c.id),
            )
        )
        .where(later.c.id.in_(list(transaction_ids)))
        .group_by(later.c.id, _root_of(later_hold), later.c.amount)
    )
    return {row[0]: (int(row[1]), int(row[2]), int(row[3]), int(row[4])) for row in rows}


def extend_hold(
    connection: Connection, hold_id: int, amount_held: int, expires_at: datetime
) -> None:
    result = connection.execute(
        holds.update()
        .where(holds.c.account_id == hold_id, holds.c.status == HoldStatus.ACTIVE)
        .values(amount_held=amount_held, expires_at=expires_at)
    )
    if result.rowcount != 1:
        raise InvariantViolation("a hold extended under the customer's lock", f"hold {hold_id}")


def commit_part(connection: Connection, hold_id: int, amount_committed: int) -> None:
    """Records what an active hold has committed so far; it stays active."""
    result = connection.execute(
        holds.update()
        .where(holds.c.account_id == hold_id, holds.c.status == HoldStatus.ACTIVE)
        .values(amount_committed=amount_committed)
    )
    if result.rowcount != 1:
        raise InvariantViolation("a hold committed under the customer's lock", f"hold {hold_id}")


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


def settle_holds_closed(
    connection: Connection, status: HoldStatus, settled: list[tuple[int, int]]
) -> None:
    """Marks the (hold id, transaction id) holds closed with ``status`` (expired, or released
    with their parent), in one round trip."""
    """Marks the (hold id, transaction id) holds expired, in one round trip."""
    if not settled:
        return
    connection.execute(
        holds.update()
        .where(holds.c.account_id == sa.bindparam("hold_id"), holds.c.status == HoldStatus.ACTIVE)
        .values(status=status, settle_transaction_id=sa.bindparam("transaction_id")),
        [{"hold_id": hold, "transaction_id": transaction} for hold, transaction in settled],
    )


def extensions_newest_first(connection: Connection, hold_id: int) -> list[tuple[datetime, int]]:
    """(created at, steps) of the applied extends that raised the hold's amount, newest first
    (through ``ix_transactions_hold_writes``)."""
    rows = connection.execute(
        sa.select(transactions.c.created_at, transactions.c.amount)
        .where(
            transactions.c.hold_id == hold_id,
            transactions.c.kind == TransactionKind.EXTEND.value,
            transactions.c.status == "applied",
            transactions.c.amount > 0,
        )
        .order_by(transactions.c.id.desc())
    )
    return [(row.created_at, int(row.amount)) for row in rows]


def extensions_newest_first_of(
    connection: Connection, hold_ids: Sequence[int]
) -> dict[int, list[tuple[datetime, int]]]:
    """``extensions_newest_first`` of many holds, in one statement: holds that were never
    raised are absent."""
    if not hold_ids:
        return {}
    rows = connection.execute(
        sa.select(transactions.c.hold_id, transactions.c.created_at, transactions.c.amount)
        .where(
            transactions.c.hold_id.in_(list(hold_ids)),
            transactions.c.kind == TransactionKind.EXTEND.value,
            transactions.c.status == "applied",
            transactions.c.amount > 0,
        )
        .order_by(transactions.c.id.desc())
    )
    found: dict[int, list[tuple[datetime, int]]] = {}
    for row in rows:
        found.setdefault(row.hold_id, []).append((row.created_at, int(row.amount)))
    return found
