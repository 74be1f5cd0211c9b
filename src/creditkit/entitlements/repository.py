"""Entitlements' SQL. Functions here read and write rows; they decide nothing (service.py does)."""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from creditkit.store.flavor import flavor_of
from creditkit.store.tables import (
    customers,
    limit_events,
    limit_resources,
    rate_windows,
    subscriptions,
    workspace_members,
)

# -- the plan in force ----------------------------------------------------------------------------


def subscription_terms(connection: Connection, customer_id: int) -> Any | None:
    """The customer's plan version and period anchors (its run's, and where an operator reset
    its periods), or None without a subscription."""
    return connection.execute(
        sa.select(
            subscriptions.c.plan_version_id,
            subscriptions.c.anchor_at,
            subscriptions.c.allowance_anchor_at,
            subscriptions.c.allowance_time_zone,
        ).where(subscriptions.c.customer_id == customer_id)
    ).first()


def customer_created_at(connection: Connection, customer_id: int) -> datetime:
    created_at: datetime = connection.execute(
        sa.select(customers.c.created_at).where(customers.c.id == customer_id)
    ).scalar_one()
    return created_at


# -- rate limits ---------------------------------------------------------------------------------

#: Windows older than this are deleted as new ones open, so the table stays a few rows per
#: customer.
RATE_WINDOWS_KEPT_MINUTES = 5


def count_request(
    connection: Connection, customer_id: int, window_start: datetime, requests: int
) -> int:
    """Adds ``requests`` to the customer's window and returns the window's count, in one
    statement through the driver: a charge's own transaction runs it, on the hot path, where a
    statement built by SQLAlchemy would cost more than the count."""
    flavor = flavor_of(connection)
    rows = flavor.fetch(
        connection,
        _count_statement(flavor.placeholder),
        (customer_id, flavor.time_in(window_start), requests),
    )
    count = int(rows[0][0])
    if count == requests:
        # A new window: the old ones go, so the table stays a few rows per customer.
        connection.execute(
            rate_windows.delete().where(
                rate_windows.c.customer_id == customer_id,
                rate_windows.c.window_start
                < window_start - timedelta(minutes=RATE_WINDOWS_KEPT_MINUTES),
            )
        )
    return count


@functools.cache
def _count_statement(placeholder: str) -> str:
    values = ", ".join([placeholder] * 3)
    return (
        f"INSERT INTO rate_windows (customer_id, window_start, count) VALUES ({values})"
        " ON CONFLICT (customer_id, window_start)"
        " DO UPDATE SET count = rate_windows.count + excluded.count RETURNING count"
    )


# -- count limits -------------------------------------------------------------------------------


def resource_held(
    connection: Connection, customer_id: int, limit_name: str, resource_id: str
) -> bool:
    return (
        connection.execute(
            sa.select(limit_resources.c.id).where(
                limit_resources.c.customer_id == customer_id,
                limit_resources.c.limit_name == limit_name,
                limit_resources.c.resource_id == resource_id,
            )
        ).first()
        is not None
    )


def resources_count(connection: Connection, customer_id: int, limit_name: str) -> int:
    count: int = connection.execute(
        sa.select(sa.func.count())
        .select_from(limit_resources)
        .where(
            limit_resources.c.customer_id == customer_id,
            limit_resources.c.limit_name == limit_name,
        )
    ).scalar_one()
    return count


def resources_counts(connection: Connection, customer_id: int) -> dict[str, int]:
    """Live resources by limit name."""
    rows = connection.execute(
        sa.select(limit_resources.c.limit_name, sa.func.count())
        .where(limit_resources.c.customer_id == customer_id)
        .group_by(limit_resources.c.limit_name)
    )
    return {row[0]: row[1] for row in rows}


def insert_resource(
    connection: Connection, customer_id: int, limit_name: str, resource_id: str, now: datetime
) -> None:
    connection.execute(
        limit_resources.insert().values(
            customer_id=customer_id,
            limit_name=limit_name,
            resource_id=resource_id,
            acquired_at=now,
        )
    )


def delete_resource(
    connection: Connection, customer_id: int, limit_name: str, resource_id: str
) -> bool:
    """True when there was such a resource."""
    result = connection.execute(
        limit_resources.delete().where(
            limit_resources.c.customer_id == customer_id,
            limit_resources.c.limit_name == limit_name,
            limit_resources.c.resource_id == resource_id,
        )
    )
    return result.rowcount > 0


# -- per-period limits --------------------------------------------------------------------------


def find_event(connection: Connection, customer_id: int, idempotency_key: str) -> Any | None:
    return connection.execute(
        sa.select(limit_events).where(
            limit_events.c.customer_id == customer_id,
            limit_events.c.idempotency_key == idempotency_key,
        )
    ).first()


def period_usage(
    connection: Connection, customer_id: int, limit_name: str, period_start: datetime
) -> int:
    """The sum of the allowed events of the period that starts at ``period_start``."""
    used = connection.execute(
        sa.select(sa.func.coalesce(sa.func.sum(limit_events.c.quantity), 0)).where(
            limit_events.c.customer_id == customer_id,
            limit_events.c.limit_name == limit_name,
            limit_events.c.period_start == period_start,
            limit_events.c.allowed.is_(True),
        )
    ).scalar_one()
    return int(used)


def insert_event(connection: Connection, values: dict[str, Any]) -> None:
    connection.execute(limit_events.insert().values(**values))


# -- workspace members --------------------------------------------------------------------------


def members_of(connection: Connection, workspace_id: int) -> list[sa.Row[Any]]:
    """The members with their external ids, in the order they were added."""
    return list(
        connection.execute(
            sa.select(
                customers.c.external_id,
                workspace_members.c.user_id,
                workspace_members.c.role,
                workspace_members.c.added_at,
            )
            .join(customers, customers.c.id == workspace_members.c.user_id)
            .where(workspace_members.c.workspace_id == workspace_id)
            .order_by(workspace_members.c.added_at, customers.c.external_id)
        )
    )


def memberships_of(connection: Connection, user_id: int, limit: int) -> list[sa.Row[Any]]:
    """The user's workspaces (external ids) and roles, in the order the user joined them."""
    return list(
        connection.execute(
            sa.select(
                customers.c.external_id, workspace_members.c.role, workspace_members.c.added_at
            )
            .join(customers, customers.c.id == workspace_members.c.workspace_id)
            .where(workspace_members.c.user_id == user_id)
            .order_by(workspace_members.c.added_at, customers.c.external_id)
            .limit(limit)
        )
    )


def members_count(connection: Connection, workspace_id: int) -> int:
    count: int = connection.execute(
        sa.select(sa.func.count())
        .select_from(workspace_members)
        .where(workspace_members.c.workspace_id == workspace_id)
    ).scalar_one()
    return count


def member_role(connection: Connection, workspace_id: int, user_id: int) -> str | None:
    role: str | None = connection.execute(
        sa.select(workspace_members.c.role).where(
            workspace_members.c.workspace_id == workspace_id,
            workspace_members.c.user_id == user_id,
        )
    ).scalar()
    return role


def owner_of(connection: Connection, workspace_id: int) -> int | None:
    owner: int | None = connection.execute(
        sa.select(workspace_members.c.user_id).where(
            workspace_members.c.workspace_id == workspace_id,
            workspace_members.c.role == "owner",
        )
    ).scalar()
    return owner


def insert_member(
    connection: Connection, workspace_id: int, user_id: int, role: str, now: datetime
) -> None:
    connection.execute(
        workspace_members.insert().values(
            workspace_id=workspace_id, user_id=user_id, role=role, added_at=now
        )
    )


def set_role(connection: Connection, workspace_id: int, user_id: int, role: str) -> None:
    connection.execute(
        workspace_members.update()
        .where(
            workspace_members.c.workspace_id == workspace_id,
            workspace_members.c.user_id == user_id,
        )
        .values(role=role)
    )


def delete_member(connection: Connection, workspace_id: int, user_id: int) -> None:
    connection.execute(
        workspace_members.delete().where(
            workspace_members.c.workspace_id == workspace_id,
            workspace_members.c.user_id == user_id,
        )
    )
