"""The SQL of spenders, budgets and debt. Functions here read and write rows; they decide
nothing (``spending.py`` and the ledger's operations do)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from creditkit.store.flavor import flavor_of
from creditkit.store.tables import (
    accounts,
    budget_usage,
    budgets,
    customers,
    debt_limits,
    setting_writes,
    spenders,
    transactions,
)


@dataclass(frozen=True, slots=True)
class SpenderRow:
    id: int
    external_id: str
    kind: str
    parent: str | None
    depth: int
    path: str
    #: External ids of its ancestors, from the top.
    ancestors: tuple[str, ...]
    created_at: datetime

    @property
    def path_up(self) -> tuple[str, ...]:
        """Itself, its ancestors from the nearest, then the customer ('')."""
        return (self.external_id, *reversed(self.ancestors), "")

    @property
    def subtree_path(self) -> str:
        """The ``path`` every spender under it starts with."""
        return f"{self.path}{self.id}/"


def _spender(row: sa.Row[Any]) -> SpenderRow:
    ancestors = tuple(json.loads(row.ancestors))
    return SpenderRow(
        row.id,
        row.external_id,
        row.kind,
        ancestors[-1] if ancestors else None,
        row.depth,
        row.path,
        ancestors,
        row.created_at,
    )


def read_spender(connection: Connection, customer_id: int, external_id: str) -> SpenderRow | None:
    """The spender with its whole path, in one raw statement (a spend's hot path)."""
    flavor = flavor_of(connection)
    mark = flavor.placeholder
    rows = flavor.fetch(
        connection,
        "SELECT id, external_id, kind, depth, path, ancestors, created_at FROM spenders"
        f" WHERE customer_id = {mark} AND external_id = {mark}",
        (customer_id, external_id),
    )
    if not rows:
        return None
    spender_id, name, kind, depth, path, ancestors_text, created_at = rows[0]
    ancestors = tuple(json.loads(ancestors_text))
    return SpenderRow(
        spender_id,
        name,
        kind,
        ancestors[-1] if ancestors else None,
        depth,
        path,
        ancestors,
        flavor.time_out(created_at),
    )


def insert_spender(
    connection: Connection,
    customer_id: int,
    external_id: str,
    kind: str,
    parent: SpenderRow | None,
    now: datetime,
) -> None:
    connection.execute(
        spenders.insert().values(
            customer_id=customer_id,
            external_id=external_id,
            kind=kind,
            parent_id=None if parent is None else parent.id,
            depth=1 if parent is None else parent.depth + 1,
            path="/" if parent is None else parent.subtree_path,
            ancestors=json.dumps([] if parent is None else [*parent.ancestors, parent.external_id]),
            created_at=now,
        )
    )


def set_spender_kind(connection: Connection, customer_id: int, external_id: str, kind: str) -> None:
    connection.execute(
        spenders.update()
        .where(spenders.c.customer_id == customer_id, spenders.c.external_id == external_id)
        .values(kind=kind)
    )


def subtree_ids(
    connection: Connection, customer_id: int, spender: SpenderRow, limit: int
) -> list[str]:
    """The spender and every spender under it, at most ``limit``."""
    rows = connection.execute(
        sa.select(spenders.c.external_id)
        .where(
            spenders.c.customer_id == customer_id,
            sa.or_(
                spenders.c.id == spender.id,
                spenders.c.path.startswith(spender.subtree_path, autoescape=True),
            ),
        )
        .order_by(spenders.c.id)
        .limit(limit)
    )
    return [row.external_id for row in rows]


def list_spenders(connection: Connection, customer_id: int, limit: int) -> list[SpenderRow]:
    rows = connection.execute(
        sa.select(spenders)
        .where(spenders.c.customer_id == customer_id)
        .order_by(spenders.c.id)
        .limit(limit)
    )
    return [_spender(row) for row in rows]


# -- budgets --------------------------------------------------------------------------------------


def read_budgets(
    connection: Connection, customer_id: int, unit: str | None, spender_ids: Sequence[str]
) -> dict[tuple[str, str, str], int]:
    """(spender, unit, period) -> cap, for the spenders given ('' the customer); every unit
    when ``unit`` is None."""
    query = sa.select(budgets.c.spender, budgets.c.unit, budgets.c.period, budgets.c.cap).where(
        budgets.c.customer_id == customer_id, budgets.c.spender.in_(list(spender_ids))
    )
    if unit is not None:
        query = query.where(budgets.c.unit == unit)
    return {(row.spender, row.unit, row.period): row.cap for row in connection.execute(query)}


def read_budgets_with_usage(
    connection: Connection,
    customer_id: int,
    unit: str,
    spender_ids: Sequence[str],
    starts: dict[str, datetime],
) -> list[tuple[str, str, int, int]]:
    """(spender, period, cap, used in the period starting at ``starts[period]``) of every
    budget of the spenders given, in one raw statement (a spend's hot path)."""
    flavor = flavor_of(connection)
    mark = flavor.placeholder
    periods = [period for period in starts if period != "lifetime"]
    case = " ".join(f"WHEN '{period}' THEN {mark}" for period in periods)
    statement = (
        "SELECT b.spender, b.period, b.cap, COALESCE(u.used, 0) FROM budgets b"
        " LEFT JOIN budget_usage u ON u.customer_id = b.customer_id AND u.spender = b.spender"
        " AND u.unit = b.unit AND u.period = b.period"
        f" AND u.period_start = CASE b.period {case} ELSE {mark} END"
        f" WHERE b.customer_id = {mark} AND b.unit = {mark}"
        f" AND b.spender IN ({', '.join([mark] * len(spender_ids))})"
    )
    parameters = (
        *(flavor.time_in(starts[period]) for period in periods),
        flavor.time_in(starts["lifetime"]),
        customer_id,
        unit,
        *spender_ids,
    )
    return [
        (spender, period, int(cap), int(used))
        for spender, period, cap, used in flavor.fetch(connection, statement, parameters)
    ]


def read_spender_with_budgets(
    connection: Connection,
    customer_id: int,
    external_id: str,
    unit: str,
    starts: dict[str, datetime],
) -> tuple[SpenderRow | None, list[tuple[str, str, int, int]], dict[str, str]]:
    """The spender, the budgets with their use (as ``read_budgets_with_usage``) of every level
    on its path up to the customer, and the kind of each of its ancestors (a plan's default
    budgets go by kind), in one raw statement: a spend through a spender costs one round trip
    for all. Budgets are matched to ancestors by their JSON text, which may match a name too
    many (never too few): the caller keeps those on the path only."""
    flavor = flavor_of(connection)
    mark = flavor.placeholder
    periods = [period for period in starts if period != "lifetime"]
    case = " ".join(f"WHEN '{period}' THEN {mark}" for period in periods)
    quote = "'\"'"
    columns = "s.id, s.external_id, s.kind, s.depth, s.path, s.ancestors, s.created_at"
    statement = (
        f"SELECT {columns}, b.spender, b.period, b.cap, COALESCE(u.used, 0), NULL FROM spenders s"
        f" LEFT JOIN budgets b ON b.customer_id = s.customer_id AND b.unit = {mark}"
        " AND (b.spender = s.external_id OR b.spender = ''"
        f" OR s.ancestors LIKE {mark} || {quote} || b.spender || {quote} || {mark})"
        " LEFT JOIN budget_usage u ON u.customer_id = b.customer_id AND u.spender = b.spender"
        " AND u.unit = b.unit AND u.period = b.period"
        f" AND u.period_start = CASE b.period {case} ELSE {mark} END"
        f" WHERE s.customer_id = {mark} AND s.external_id = {mark}"
        # Each ancestor's kind, found by its (customer, external id) key.
        f" UNION ALL SELECT {columns}, a.external_id, NULL, NULL, NULL, a.kind FROM spenders s"
        " JOIN spenders a ON a.customer_id = s.customer_id"
        f" AND a.external_id IN {flavor.json_texts('s.ancestors')}"
        f" WHERE s.customer_id = {mark} AND s.external_id = {mark}"
    )
    parameters = (
        unit,
        "%",
        "%",
        *(flavor.time_in(starts[period]) for period in periods),
        flavor.time_in(starts["lifetime"]),
        customer_id,
        external_id,
        customer_id,
        external_id,
    )
    rows = flavor.fetch(connection, statement, parameters)
    if not rows:
        return None, [], {}
    spender_id, name, kind, depth, path, ancestors_text, created_at = rows[0][:7]
    ancestors = tuple(json.loads(ancestors_text))
    row = SpenderRow(
        spender_id,
        name,
        kind,
        ancestors[-1] if ancestors else None,
        depth,
        path,
        ancestors,
        flavor.time_out(created_at),
    )
    on_path = set(row.path_up)
    budgets_found = [
        (spender, period, int(cap), int(used))
        for *_spender_columns, spender, period, cap, used, level_kind in rows
        if spender is not None and level_kind is None and spender in on_path
    ]
    kinds = {
        spender: level_kind
        for *_spender_columns, spender, _period, _cap, _used, level_kind in rows
        if level_kind is not None
    }
    return row, budgets_found, kinds


def read_kinds(
    connection: Connection, customer_id: int, external_ids: Sequence[str]
) -> dict[str, str]:
    """External id -> kind of the spenders given."""
    if not external_ids:
        return {}
    query = sa.select(spenders.c.external_id, spenders.c.kind).where(
        spenders.c.customer_id == customer_id, spenders.c.external_id.in_(list(external_ids))
    )
    return {row.external_id: row.kind for row in connection.execute(query)}


def read_budget_usage(
    connection: Connection,
    customer_id: int,
    unit: str,
    keys: Sequence[tuple[str, str, datetime]],
) -> dict[tuple[str, str, datetime], int]:
    """(spender, period, period start) -> steps used, for ``keys``."""
    if not keys:
        return {}
    found: dict[tuple[str, str, datetime], int] = {}
    rows = connection.execute(
        sa.select(
            budget_usage.c.spender,
            budget_usage.c.period,
            budget_usage.c.period_start,
            budget_usage.c.used,
        ).where(
            budget_usage.c.customer_id == customer_id,
            budget_usage.c.unit == unit,
            budget_usage.c.spender.in_(sorted({spender for spender, _p, _s in keys})),
            budget_usage.c.period_start.in_(sorted({start for _sp, _p, start in keys})),
        )
    )
    wanted = set(keys)
    for row in rows:
        key = (row.spender, row.period, row.period_start)
        if key in wanted:
            found[key] = row.used
    return found


def set_budget(
    connection: Connection,
    customer_id: int,
    spender: str,
    unit: str,
    period: str,
    cap: int | None,
    now: datetime,
) -> None:
    """Sets the budget (None: removes it)."""
    condition = (
        (budgets.c.customer_id == customer_id)
        & (budgets.c.spender == spender)
        & (budgets.c.unit == unit)
        & (budgets.c.period == period)
    )
    connection.execute(budgets.delete().where(condition))
    if cap is not None:
        connection.execute(
            budgets.insert().values(
                customer_id=customer_id,
                spender=spender,
                unit=unit,
                period=period,
                cap=cap,
                updated_at=now,
            )
        )


def mark_budgeted(connection: Connection, customer_id: int) -> None:
    """The customer has a budget of its own: its charges read budgets from now on."""
    connection.execute(
        customers.update()
        .where(customers.c.id == customer_id, customers.c.budgeted.is_(False))
        .values(budgeted=True)
    )


# -- debt -----------------------------------------------------------------------------------------


def debt_account(connection: Connection, customer_id: int, unit: str) -> tuple[int, int] | None:
    """The customer's debt account in ``unit`` and its balance (≤ 0), if it has one."""
    row = connection.execute(
        sa.select(accounts.c.id, accounts.c.balance).where(
            accounts.c.customer_id == customer_id,
            accounts.c.unit == unit,
            accounts.c.kind == "debt",
        )
    ).first()
    return None if row is None else (row.id, row.balance)


def debt_limit(connection: Connection, customer_id: int, unit: str) -> int | None:
    value: int | None = connection.execute(
        sa.select(debt_limits.c.amount).where(
            debt_limits.c.customer_id == customer_id, debt_limits.c.unit == unit
        )
    ).scalar()
    return value


def set_debt_limit(
    connection: Connection, customer_id: int, unit: str, amount: int, now: datetime
) -> None:
    condition = (debt_limits.c.customer_id == customer_id) & (debt_limits.c.unit == unit)
    connection.execute(debt_limits.delete().where(condition))
    connection.execute(
        debt_limits.insert().values(
            customer_id=customer_id, unit=unit, amount=amount, updated_at=now
        )
    )


# -- settings' idempotency ------------------------------------------------------------------------


def recorded_setting(connection: Connection, key: str) -> str | None:
    value: str | None = connection.execute(
        sa.select(setting_writes.c.request).where(setting_writes.c.idempotency_key == key)
    ).scalar()
    return value


def record_setting(
    connection: Connection, key: str, customer_id: int, request: str, now: datetime
) -> None:
    connection.execute(
        setting_writes.insert().values(
            idempotency_key=key, customer_id=customer_id, request=request, created_at=now
        )
    )


def give_back_usage(
    connection: Connection,
    customer_id: int,
    unit: str,
    path: Sequence[str],
    starts: Sequence[tuple[str, datetime]],
    steps: int,
) -> None:
    """Gives ``steps`` back to the usage rows of ``path`` in the periods that start at
    ``starts`` ((period, start) each): a hold's unused part, in the periods its reserve counted
    it in. Only rows that exist are touched, and none goes below zero."""
    period_matches = sa.or_(
        *(
            sa.and_(budget_usage.c.period == period, budget_usage.c.period_start == start)
            for period, start in starts
        )
    )
    connection.execute(
        budget_usage.update()
        .where(
            budget_usage.c.customer_id == customer_id,
            budget_usage.c.unit == unit,
            budget_usage.c.spender.in_(list(path)),
            period_matches,
        )
        .values(
            used=sa.case(
                (budget_usage.c.used > steps, budget_usage.c.used - steps), else_=sa.literal(0)
            )
        )
    )


def give_back_usage_many(
    connection: Connection,
    customer_id: int,
    unit: str,
    returned: dict[tuple[str, str, datetime], int],
) -> None:
    """Gives steps back to many usage rows, one parameter set per row in one round trip:
    ``returned`` maps (spender level, period, period start) to the steps it gets back. As
    ``give_back_usage``: only rows that exist are touched, and none goes below zero."""
    if not returned:
        return
    connection.execute(
        budget_usage.update()
        .where(
            budget_usage.c.customer_id == customer_id,
            budget_usage.c.unit == unit,
            budget_usage.c.spender == sa.bindparam("level"),
            budget_usage.c.period == sa.bindparam("usage_period"),
            budget_usage.c.period_start == sa.bindparam("start"),
        )
        .values(
            used=sa.case(
                (
                    budget_usage.c.used > sa.bindparam("steps"),
                    budget_usage.c.used - sa.bindparam("steps"),
                ),
                else_=sa.literal(0),
            )
        ),
        [
            {"level": level, "usage_period": period, "start": start, "steps": steps}
            for (level, period, start), steps in returned.items()
        ],
    )


def reserve_origins(
    connection: Connection, transaction_ids: Sequence[int]
) -> dict[int, tuple[str | None, datetime]]:
    """The spender and moment of each reserve transaction given."""
    rows = connection.execute(
        sa.select(transactions.c.id, transactions.c.spender, transactions.c.created_at).where(
            transactions.c.id.in_(list(transaction_ids))
        )
    )
    return {row.id: (row.spender, row.created_at) for row in rows}


def debt_repaid(connection: Connection, repayment_key: str) -> int:
    """The steps a grant's debt repayment (by its key) moved; 0 when it repaid none."""
    value: int | None = connection.execute(
        sa.select(transactions.c.amount).where(transactions.c.idempotency_key == repayment_key)
    ).scalar()
    return value or 0
