"""Parked events: the usage events the ingest worker could not charge, kept with their reason,
each announced by an ``event.refused`` event (webhook) in the same transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from creditkit.outbox.types import EventType
from creditkit.outbox.writer import derived_event_id, emit, event_exists
from creditkit.store.database import Database
from creditkit.store.tables import customers, parked_events

#: Parked events listed at once, at most.
PARKED_PAGE_MAX = 500
#: The longest detail kept with a parked event, in characters.
DETAIL_LENGTH_MAX = 1_000


@dataclass(frozen=True, slots=True)
class ParkedEvent:
    """An event that cannot be charged: ``reason`` a stable code (an error's code, such as
    ``insufficient_credits`` or ``unknown_customer``, or ``malformed_event``), ``detail`` what
    was wrong. ``customer`` is None when the event named none that could be read."""

    idempotency_key: str
    customer: str | None
    event: dict[str, Any]
    reason: str
    detail: str


def park(database: Database, parked: list[ParkedEvent], now: datetime) -> int:
    """Parks ``parked`` in one transaction and emits one ``event.refused`` for each; an event
    already parked (a redelivery) is left as it is. Returns how many were new."""

    def work(connection: Connection) -> int:
        new = 0
        for event in parked:
            event_id = derived_event_id(f"event.refused:{event.idempotency_key}")
            if event_exists(connection, event_id):
                continue
            connection.execute(
                parked_events.insert().values(
                    idempotency_key=event.idempotency_key[:255],
                    customer=event.customer,
                    event=event.event,
                    reason=event.reason,
                    detail=event.detail[:DETAIL_LENGTH_MAX],
                    parked_at=now,
                )
            )
            data = {
                "idempotency_key": event.idempotency_key,
                "customer": event.customer,
                "action": _text(event.event.get("action")),
                "reason": event.reason,
                "detail": event.detail[:DETAIL_LENGTH_MAX],
            }
            emit(
                connection,
                EventType.EVENT_REFUSED,
                _customer_id(connection, event.customer),
                data,
                now,
                event_id=event_id,
            )
            new += 1
        return new

    return database.write(work)


def parked(database: Database, limit: int = 100) -> list[ParkedEvent]:
    """The newest parked events, ``limit`` (1 to 500) of them."""
    limit = max(1, min(limit, PARKED_PAGE_MAX))
    with database.read() as connection:
        rows = connection.execute(
            sa.select(parked_events).order_by(parked_events.c.id.desc()).limit(limit)
        ).all()
    return [
        ParkedEvent(row.idempotency_key, row.customer, dict(row.event), row.reason, row.detail)
        for row in rows
    ]


def parked_count(database: Database) -> int:
    with database.read() as connection:
        count = connection.execute(sa.select(sa.func.count()).select_from(parked_events))
        return int(count.scalar_one())


def _customer_id(connection: Connection, customer: str | None) -> int | None:
    if customer is None:
        return None
    query = sa.select(customers.c.id).where(customers.c.external_id == customer)
    found: int | None = connection.execute(query).scalar_one_or_none()
    return found


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
