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
from creditkit.store.unit_of_work import UnitOfWork

#: Parked events listed at once, at most.
PARKED_PAGE_MAX = 500
#: The longest detail kept with a parked event, in characters.
DETAIL_LENGTH_MAX = 1_000
#: Parked events counted at most by a lag read (``GET /v1/ingest/lag``, ``--lag``, each
#: worker's): the count stops there and says "at least", so that a read made on every poll of a
#: monitor reads a bounded number of rows however many were parked.
PARKED_COUNT_MAX = 10_000


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

    def work(context: UnitOfWork) -> int:
        new = 0
        for event in parked:
            event_id = derived_event_id(f"event.refused:{event.idempotency_key}")
            if event_exists(context.connection, event_id):
                continue
            context.connection.execute(
                parked_events.insert().values(
                    idempotency_key=event.idempotency_key[:255],
                    customer=event.customer,
                    event=event.event,
                    reason=event.reason,
                    detail=event.detail[:DETAIL_LENGTH_MAX],
                    parked_at=context.now,
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
                context.connection,
                EventType.EVENT_REFUSED,
                _customer_id(context.connection, event.customer),
                data,
                context.now,
                event_id=event_id,
            )
            new += 1
        return new

    return database.unit_of_work(lambda: now, work)


@dataclass(frozen=True, slots=True)
class ParkedRecord:
    """A parked event as listed: its row ``id`` (the listing's cursor) and when it was parked."""

    id: int
    parked_at: datetime
    event: ParkedEvent


@dataclass(frozen=True, slots=True)
class ParkedPage:
    """Parked events newest first; ``next_before_id`` lists the older ones (None: no more)."""

    items: tuple[ParkedRecord, ...]
    next_before_id: int | None


def parked_page(database: Database, limit: int = 100, before_id: int | None = None) -> ParkedPage:
    """The newest parked events (below ``before_id`` when given), ``limit`` (1 to 500) of
    them."""
    limit = max(1, min(limit, PARKED_PAGE_MAX))
    query = sa.select(parked_events).order_by(parked_events.c.id.desc()).limit(limit + 1)
    if before_id is not None:
        query = query.where(parked_events.c.id < before_id)
    with database.read() as connection:
        rows = connection.execute(query).all()
    items = tuple(
        ParkedRecord(
            int(row.id),
            row.parked_at,
            ParkedEvent(row.idempotency_key, row.customer, dict(row.event), row.reason, row.detail),
        )
        for row in rows[:limit]
    )
    return ParkedPage(items, items[-1].id if len(rows) > limit else None)


def parked(database: Database, limit: int = 100) -> list[ParkedEvent]:
    """The newest parked events, ``limit`` (1 to 500) of them."""
    return [record.event for record in parked_page(database, limit).items]


@dataclass(frozen=True, slots=True)
class ParkedCount:
    """Events parked: ``count`` of them, or at least that many when ``capped`` (the count stops
    at ``PARKED_COUNT_MAX``)."""

    count: int
    capped: bool

    def __str__(self) -> str:
        return f"at least {self.count}" if self.capped else str(self.count)


def parked_count(database: Database, limit: int = PARKED_COUNT_MAX) -> ParkedCount:
    """The events parked, counted up to ``limit`` (1 to ``PARKED_COUNT_MAX``): at most
    ``limit + 1`` rows of the primary key's index are read, never the whole table."""
    limit = max(1, min(limit, PARKED_COUNT_MAX))
    first = sa.select(parked_events.c.id).limit(limit + 1).subquery()
    with database.read() as connection:
        found = int(connection.execute(sa.select(sa.func.count()).select_from(first)).scalar_one())
    return ParkedCount(min(found, limit), found > limit)


def _customer_id(connection: Connection, customer: str | None) -> int | None:
    if customer is None:
        return None
    query = sa.select(customers.c.id).where(customers.c.external_id == customer)
    found: int | None = connection.execute(query).scalar_one_or_none()
    return found


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
