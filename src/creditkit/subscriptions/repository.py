"""Subscriptions' SQL."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from creditkit.store.tables import billing_lines, outbox_events, plan_versions, subscriptions


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
