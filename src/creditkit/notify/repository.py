"""The SQL of webhooks and alerts. Functions here read and write rows; they decide nothing
(webhooks.py and alerts.py do)."""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from creditkit.store.database import insert_once
from creditkit.store.flavor import flavor_of, flavor_of_dialect
from creditkit.store.tables import (
    accounts,
    alert_firings,
    customer_alerts,
    customers,
    grant_expiry_notices,
    grants,
    outbox_events,
    webhook_deliveries,
    webhook_endpoints,
    webhook_secret_rotations,
)
from creditkit.store.unit_of_work import CustomerRow

# -- endpoints ----------------------------------------------------------------------------------


def insert_endpoint(connection: Connection, values: dict[str, Any]) -> int:
    endpoint_id: int = connection.execute(
        webhook_endpoints.insert().values(**values).returning(webhook_endpoints.c.id)
    ).scalar_one()
    return endpoint_id


def endpoint_by_key(connection: Connection, idempotency_key: str) -> Any | None:
    return connection.execute(
        sa.select(webhook_endpoints).where(webhook_endpoints.c.idempotency_key == idempotency_key)
    ).first()


def read_endpoint(connection: Connection, endpoint_id: int, *, lock: bool = False) -> Any | None:
    """The endpoint, unless it does not exist or was deleted; ``lock``: locked until the
    transaction ends (a rotation, so that two at once do not both keep the same previous
    secret)."""
    query = sa.select(webhook_endpoints).where(
        webhook_endpoints.c.id == endpoint_id, webhook_endpoints.c.deleted_at.is_(None)
    )
    if lock:
        query = query.with_for_update()
    return connection.execute(query).first()


def set_endpoint_secrets(connection: Connection, endpoint_id: int, values: dict[str, Any]) -> None:
    connection.execute(
        webhook_endpoints.update().where(webhook_endpoints.c.id == endpoint_id).values(**values)
    )


def rotation_by_key(connection: Connection, idempotency_key: str) -> Any | None:
    return connection.execute(
        sa.select(webhook_secret_rotations).where(
            webhook_secret_rotations.c.idempotency_key == idempotency_key
        )
    ).first()


def latest_rotation_id(connection: Connection, endpoint_id: int) -> int | None:
    latest: int | None = connection.execute(
        sa.select(sa.func.max(webhook_secret_rotations.c.id)).where(
            webhook_secret_rotations.c.endpoint_id == endpoint_id
        )
    ).scalar_one()
    return latest


def insert_rotation(connection: Connection, values: dict[str, Any]) -> None:
    connection.execute(webhook_secret_rotations.insert().values(**values))


def endpoints(connection: Connection, limit: int) -> Sequence[Any]:
    return connection.execute(
        sa.select(webhook_endpoints)
        .where(webhook_endpoints.c.deleted_at.is_(None))
        .order_by(webhook_endpoints.c.id)
        .limit(limit)
    ).all()


def count_endpoints(connection: Connection) -> int:
    count: int = connection.execute(
        sa.select(sa.func.count())
        .select_from(webhook_endpoints)
        .where(webhook_endpoints.c.deleted_at.is_(None))
    ).scalar_one()
    return count


def set_endpoint_enabled(connection: Connection, endpoint_id: int, enabled: bool) -> None:
    connection.execute(
        webhook_endpoints.update()
        .where(webhook_endpoints.c.id == endpoint_id)
        .values(enabled=enabled)
    )


def delete_endpoint(connection: Connection, endpoint_id: int, now: datetime) -> None:
    """Marks the endpoint deleted (its deliveries keep their history) and gives up on what it
    was still owed."""
    connection.execute(
        webhook_endpoints.update()
        .where(webhook_endpoints.c.id == endpoint_id)
        .values(deleted_at=now, enabled=False)
    )
    connection.execute(
        webhook_deliveries.update()
        .where(
            webhook_deliveries.c.endpoint_id == endpoint_id,
            webhook_deliveries.c.status == "pending",
        )
        .values(status="failed", last_error="the endpoint was deleted")
    )


# -- fan-out ------------------------------------------------------------------------------------


def events_to_fan_out(connection: Connection, limit: int) -> list[tuple[int, str]]:
    """(id, type) of events without deliveries yet, oldest first, locked: a concurrent worker
    on PostgreSQL skips them and takes the next ones (SQLite has one writer anyway)."""
    query = (
        sa.select(outbox_events.c.id, outbox_events.c.type)
        .where(outbox_events.c.fanned_out_at.is_(None))
        .order_by(outbox_events.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [(row.id, row.type) for row in connection.execute(query)]


def endpoints_receiving(connection: Connection, limit: int) -> list[tuple[int, list[str] | None]]:
    """(id, event types or None for all) of the endpoints enabled now."""
    query = (
        sa.select(webhook_endpoints.c.id, webhook_endpoints.c.event_types)
        .where(webhook_endpoints.c.enabled.is_(True), webhook_endpoints.c.deleted_at.is_(None))
        .order_by(webhook_endpoints.c.id)
        .limit(limit)
    )
    return [(row.id, row.event_types) for row in connection.execute(query)]


def insert_deliveries(connection: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        connection.execute(webhook_deliveries.insert(), rows)


def mark_fanned_out(connection: Connection, event_ids: list[int], now: datetime) -> None:
    connection.execute(
        outbox_events.update().where(outbox_events.c.id.in_(event_ids)).values(fanned_out_at=now)
    )


# -- deliveries ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """A delivery a worker has leased, with what it takes to send it."""

    id: int
    attempt: int
    url: str
    #: The endpoint's secret, encrypted (notify/sealing.py).
    secret_sealed: str
    #: The secret a rotation replaced, and until when it signs too.
    previous_secret_sealed: str | None
    previous_secret_expires_at: datetime | None
    event_id: str
    event_type: str
    customer: str | None
    data: dict[str, Any]
    created_at: datetime


def claim_due_deliveries(
    connection: Connection, now: datetime, lease_until: datetime, limit: int
) -> list[ClaimedDelivery]:
    """Leases up to ``limit`` pending deliveries due at ``now`` (to enabled endpoints) until
    ``lease_until`` and counts the attempt. On PostgreSQL ``FOR UPDATE SKIP LOCKED`` hands each
    row to one worker only; the lease keeps it from other workers once this one commits."""
    due = (
        sa.select(webhook_deliveries.c.id)
        .join(webhook_endpoints, webhook_endpoints.c.id == webhook_deliveries.c.endpoint_id)
        .where(
            webhook_deliveries.c.status == "pending",
            webhook_deliveries.c.next_attempt_at <= now,
            webhook_endpoints.c.enabled.is_(True),
        )
        .order_by(webhook_deliveries.c.next_attempt_at, webhook_deliveries.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=webhook_deliveries)
    )
    ids = [row.id for row in connection.execute(due)]
    if not ids:
        return []
    connection.execute(
        webhook_deliveries.update()
        .where(webhook_deliveries.c.id.in_(ids))
        .values(attempts=webhook_deliveries.c.attempts + 1, next_attempt_at=lease_until)
    )
    rows = connection.execute(
        sa.select(
            webhook_deliveries.c.id,
            webhook_deliveries.c.attempts,
            webhook_endpoints.c.url,
            webhook_endpoints.c.secret_sealed,
            webhook_endpoints.c.previous_secret_sealed,
            webhook_endpoints.c.previous_secret_expires_at,
            outbox_events.c.event_id,
            outbox_events.c.type,
            outbox_events.c.data,
            outbox_events.c.created_at,
            customers.c.external_id,
        )
        .select_from(
            webhook_deliveries.join(
                webhook_endpoints, webhook_endpoints.c.id == webhook_deliveries.c.endpoint_id
            )
            .join(outbox_events, outbox_events.c.id == webhook_deliveries.c.event_id)
            .outerjoin(customers, customers.c.id == outbox_events.c.customer_id)
        )
        .where(webhook_deliveries.c.id.in_(ids))
        .order_by(webhook_deliveries.c.next_attempt_at, webhook_deliveries.c.id)
    )
    return [
        ClaimedDelivery(
            id=row.id,
            attempt=row.attempts,
            url=row.url,
            secret_sealed=row.secret_sealed,
            previous_secret_sealed=row.previous_secret_sealed,
            previous_secret_expires_at=row.previous_secret_expires_at,
            event_id=row.event_id,
            event_type=row.type,
            customer=row.external_id,
            data=dict(row.data),
            created_at=row.created_at,
        )
        for row in rows
    ]


def record_attempt(
    connection: Connection, delivery_id: int, attempt: int, values: dict[str, Any]
) -> bool:
    """Writes an attempt's outcome, only if the delivery is still at that attempt and pending
    (a worker whose lease ran out must not overwrite a newer attempt's outcome)."""
    result = connection.execute(
        webhook_deliveries.update()
        .where(
            webhook_deliveries.c.id == delivery_id,
            webhook_deliveries.c.attempts == attempt,
            webhook_deliveries.c.status == "pending",
        )
        .values(**values)
    )
    return result.rowcount == 1


def deliveries(
    connection: Connection,
    after_id: int,
    limit: int,
    endpoint_id: int | None,
    status: str | None,
) -> Sequence[Any]:
    query = (
        sa.select(webhook_deliveries, outbox_events.c.event_id.label("event_key"))
        .join(outbox_events, outbox_events.c.id == webhook_deliveries.c.event_id)
        .where(webhook_deliveries.c.id > after_id)
        .order_by(webhook_deliveries.c.id)
        .limit(limit)
    )
    if endpoint_id is not None:
        query = query.where(webhook_deliveries.c.endpoint_id == endpoint_id)
    if status is not None:
        query = query.where(webhook_deliveries.c.status == status)
    return connection.execute(query).all()


# -- alerts -------------------------------------------------------------------------------------


def customer_alert_row(connection: Connection, customer_id: int, unit: str) -> Any | None:
    return connection.execute(
        sa.select(customer_alerts.c.credits_left, customer_alerts.c.percent_used).where(
            customer_alerts.c.customer_id == customer_id, customer_alerts.c.unit == unit
        )
    ).first()


@dataclass(frozen=True, slots=True)
class OwnThresholds:
    """A customer's own alert thresholds in one unit (a ``customer_alerts`` row)."""

    credits_left: int | None
    percent_used: list[int]


def customer_with_own_thresholds(
    connection: Connection, external_id: str, unit: str
) -> tuple[CustomerRow, OwnThresholds | None] | None:
    """The customer (None when unknown) and its own thresholds in ``unit``, in one statement
    through the driver: a charge's answer (``alert_crossed``) asks it whenever thresholds may be
    in force, and two statements built by SQLAlchemy would cost more than the charge."""
    flavor = flavor_of(connection)
    rows = flavor.fetch(connection, _own_thresholds_statement(flavor.dialect), (unit, external_id))
    if not rows:
        return None
    customer_id, external, kind, next_due_at, credits_left, percent_used = rows[0]
    customer = CustomerRow(customer_id, external, kind, flavor.time_out_optional(next_due_at))
    if percent_used is None:
        return customer, None  # no row of its own: the LEFT JOIN found none
    return customer, OwnThresholds(credits_left, json.loads(percent_used))


@functools.cache
def _own_thresholds_statement(dialect: str) -> str:
    placeholder = flavor_of_dialect(dialect).placeholder
    # As text on both databases, decoded once here (JSONB would come back decoded on one only).
    percent_used = "a.percent_used::text" if dialect == "postgresql" else "a.percent_used"
    return (
        f"SELECT c.id, c.external_id, c.kind, c.next_due_at, a.credits_left, {percent_used}"
        " FROM customers c LEFT JOIN customer_alerts a"
        f" ON a.customer_id = c.id AND a.unit = {placeholder}"
        f" WHERE c.external_id = {placeholder}"
    )


def put_customer_alerts(connection: Connection, values: dict[str, Any]) -> None:
    key = (customer_alerts.c.customer_id == values["customer_id"]) & (
        customer_alerts.c.unit == values["unit"]
    )
    updated = connection.execute(customer_alerts.update().where(key).values(**values))
    if updated.rowcount == 0:
        connection.execute(customer_alerts.insert().values(**values))


def delete_customer_alerts(connection: Connection, customer_id: int, unit: str) -> bool:
    result = connection.execute(
        customer_alerts.delete().where(
            customer_alerts.c.customer_id == customer_id, customer_alerts.c.unit == unit
        )
    )
    return result.rowcount == 1


def customers_with_alerts(connection: Connection, limit: int) -> list[int]:
    """Ids of customers with thresholds of their own, at most ``limit``."""
    query = (
        sa.select(customer_alerts.c.customer_id)
        .distinct()
        .order_by(customer_alerts.c.customer_id)
        .limit(limit)
    )
    return [row.customer_id for row in connection.execute(query)]


def external_ids_with_alerts(connection: Connection, limit: int) -> list[str]:
    """External ids of customers with thresholds of their own, at most ``limit``."""
    query = (
        sa.select(customers.c.external_id)
        .where(customers.c.id.in_(sa.select(customer_alerts.c.customer_id).scalar_subquery()))
        .order_by(customers.c.external_id)
        .limit(limit)
    )
    return [row.external_id for row in connection.execute(query)]


def insert_firing(connection: Connection, values: dict[str, Any]) -> bool:
    return insert_once(connection, alert_firings, values)


#: The prefix of a percent-used alert's key in its firing row ("percent_used:<percent>").
PERCENT_USED_KEY = "percent_used:"
#: Customers per statement of ``percent_firings`` (its IN list).
FIRINGS_CUSTOMERS_PER_STATEMENT = 500


def percent_firings(
    connection: Connection, periods: Sequence[tuple[int, str, datetime]]
) -> set[tuple[int, str, str, datetime]]:
    """The percent-used firing rows of the (customer id, unit, period start) asked, as
    (customer id, unit, alert key, period start): the thresholds already recorded in the period,
    which a batch need not look at again."""
    wanted = set(periods)
    if not wanted:
        return set()
    customer_ids = sorted({customer_id for customer_id, _unit, _start in wanted})
    # The earliest period asked bounds the rows read to the current periods, not the history.
    since = min(start for _customer_id, _unit, start in wanted)
    found: set[tuple[int, str, str, datetime]] = set()
    for first in range(0, len(customer_ids), FIRINGS_CUSTOMERS_PER_STATEMENT):
        chunk = customer_ids[first : first + FIRINGS_CUSTOMERS_PER_STATEMENT]
        query = sa.select(
            alert_firings.c.customer_id,
            alert_firings.c.unit,
            alert_firings.c.alert,
            alert_firings.c.period_start,
        ).where(
            alert_firings.c.customer_id.in_(chunk),
            alert_firings.c.period_start >= since,
            alert_firings.c.alert.startswith(PERCENT_USED_KEY, autoescape=True),
        )
        for row in connection.execute(query):
            if (row.customer_id, row.unit, row.period_start) in wanted:
                found.add((row.customer_id, row.unit, row.alert, row.period_start))
    return found


# -- grants about to expire ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExpiringGrant:
    grant_id: int
    customer_id: int
    unit: str
    remaining: int
    source: str
    expires_at: datetime


def expiring_grants(
    connection: Connection, after: datetime, until: datetime, limit: int
) -> list[ExpiringGrant]:
    """Grants with credits left that expire in (after, until] and were not announced yet,
    soonest first."""
    query = (
        sa.select(
            grants.c.account_id,
            accounts.c.customer_id,
            accounts.c.unit,
            accounts.c.balance,
            grants.c.source,
            grants.c.expires_at,
        )
        .select_from(
            grants.join(accounts, accounts.c.id == grants.c.account_id).outerjoin(
                grant_expiry_notices, grant_expiry_notices.c.grant_id == grants.c.account_id
            )
        )
        .where(
            grants.c.expires_at.is_not(None),
            grants.c.expires_at > after,
            grants.c.expires_at <= until,
            accounts.c.balance > 0,
            grant_expiry_notices.c.grant_id.is_(None),
        )
        .order_by(grants.c.expires_at, grants.c.account_id)
        .limit(limit)
    )
    return [
        ExpiringGrant(row[0], row[1], row[2], row[3], row[4], row[5])
        for row in connection.execute(query)
    ]


def insert_expiry_notice(connection: Connection, values: dict[str, Any]) -> bool:
    return insert_once(connection, grant_expiry_notices, values)
