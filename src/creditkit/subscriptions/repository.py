"""Subscriptions' SQL."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from creditkit.store.tables import (
    accounts,
    billing_lines,
    grants,
    outbox_events,
    plan_versions,
    subscriptions,
    transactions,
)


def plan_version_by_fingerprint(
    connection: Connection, plan_id: str, fingerprint: str
) -> sa.Row[Any] | None:
    return connection.execute(
        sa.select(plan_versions).where(
            plan_versions.c.plan_id == plan_id, plan_versions.c.fingerprint == fingerprint
        )
    ).first()


def plan_version_by_number(
    connection: Connection, plan_id: str, version: int
) -> sa.Row[Any] | None:
    return connection.execute(
        sa.select(plan_versions).where(
            plan_versions.c.plan_id == plan_id, plan_versions.c.version == version
        )
    ).first()


def last_event_id(connection: Connection, customer_id: int) -> int:
    """The id of the customer's latest ``subscription.*`` event (0: none yet)."""
    found = connection.execute(
        sa.select(sa.func.max(outbox_events.c.id)).where(
            outbox_events.c.customer_id == customer_id,
            outbox_events.c.type.like("subscription.%"),
        )
    ).scalar()
    return int(found or 0)


def insert_plan_version(
    connection: Connection,
    plan_id: str,
    fingerprint: str,
    name: str,
    rank: int,
    terms: dict[str, Any],
    now: datetime,
) -> None:
    latest = connection.execute(
        sa.select(sa.func.max(plan_versions.c.version)).where(plan_versions.c.plan_id == plan_id)
    ).scalar()
    connection.execute(
        plan_versions.insert().values(
            plan_id=plan_id,
            version=(latest or 0) + 1,
            fingerprint=fingerprint,
            name=name,
            rank=rank,
            terms=json.dumps(terms, sort_keys=True),
            created_at=now,
        )
    )


def read_plan_version(connection: Connection, plan_version_id: int) -> sa.Row[Any]:
    return connection.execute(
        sa.select(plan_versions).where(plan_versions.c.id == plan_version_id)
    ).one()


def read_subscription(connection: Connection, customer_id: int) -> sa.Row[Any] | None:
    return connection.execute(
        sa.select(subscriptions).where(subscriptions.c.customer_id == customer_id)
    ).first()


def insert_subscription(connection: Connection, values: dict[str, Any]) -> None:
    connection.execute(subscriptions.insert().values(**values))


def update_subscription(
    connection: Connection, subscription_id: int, values: dict[str, Any]
) -> None:
    connection.execute(
        subscriptions.update().where(subscriptions.c.id == subscription_id).values(**values)
    )


def insert_billing_line(connection: Connection, values: dict[str, Any]) -> bool:
    """Inserts the line unless its key is taken already; True when it was inserted."""
    exists = connection.execute(
        sa.select(billing_lines.c.id).where(
            billing_lines.c.idempotency_key == values["idempotency_key"]
        )
    ).first()
    if exists is not None:
        return False
    connection.execute(billing_lines.insert().values(**values))
    return True


def billing_lines_of(connection: Connection, customer_id: int, limit: int) -> list[sa.Row[Any]]:
    return list(
        connection.execute(
            sa.select(billing_lines)
            .where(billing_lines.c.customer_id == customer_id)
            .order_by(billing_lines.c.id.desc())
            .limit(limit)
        )
    )


def last_overage_close(
    connection: Connection, customer_id: int, after: datetime, until: datetime
) -> datetime | None:
    """The latest end of an overage line in (``after``, ``until``]: where the last stretch of
    an overage period billed so far closed."""
    closed_at: datetime | None = connection.execute(
        sa.select(sa.func.max(billing_lines.c.period_end)).where(
            billing_lines.c.customer_id == customer_id,
            billing_lines.c.kind == "overage",
            billing_lines.c.period_end > after,
            billing_lines.c.period_end <= until,
        )
    ).scalar_one()
    return closed_at


def allowance_grants_ending(
    connection: Connection, customer_id: int, unit: str, expires_at: datetime
) -> list[tuple[int, int, bool]]:
    """(account id, credits left, whether rolled over) of each allowance grant of ``unit``
    expiring at ``expires_at``, spent or not, in account order: what a rollover there reads."""
    rows = connection.execute(
        sa.select(accounts.c.id, accounts.c.balance, grants.c.metadata)
        .join(grants, grants.c.account_id == accounts.c.id)
        .where(
            accounts.c.customer_id == customer_id,
            accounts.c.unit == unit,
            accounts.c.kind == "grant",
            grants.c.source == "allowance",
            grants.c.expires_at == expires_at,
        )
        .order_by(accounts.c.id)
    )
    return [(row.id, row.balance, bool((row.metadata or {}).get("rollover"))) for row in rows]


def last_overage_carry(
    connection: Connection, customer_id: int, after: datetime, until: datetime
) -> datetime | None:
    """When overage was last carried as debt in (``after``, ``until``]: where the stretch of
    the overage period carried so far closed."""
    carried_at: datetime | None = connection.execute(
        sa.select(sa.func.max(transactions.c.created_at)).where(
            transactions.c.customer_id == customer_id,
            transactions.c.kind == "overage_carry",
            transactions.c.created_at > after,
            transactions.c.created_at <= until,
        )
    ).scalar_one()
    return carried_at
