"""The outbox's SQL: events are inserted in the transaction of the change they report (so an
event exists exactly when its change committed) and read back in id order for delivery."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from creditkit.errors import require
from creditkit.outbox.types import Event, EventType
from creditkit.store.tables import customers, outbox_events

#: A page of events read at once; delivery and listings never read the outbox unbounded.
EVENTS_PAGE_MAX = 500


def new_event_id() -> str:
    """A fresh, unique ``event_id``, for a caller that records it before emitting."""
    return f"evt_{uuid.uuid4().hex}"


def derived_event_id(key: str) -> str:
    """The ``event_id`` of an event that exists once per ``key`` (a fact on the due-work
    timeline, such as a trial's end drawing near): emitting it twice is refused by the outbox's
    unique ``event_id``, and ``event_exists`` tells whether it was emitted."""
    return f"evt_{hashlib.sha256(key.encode()).hexdigest()[:32]}"


def event_exists(connection: Connection, event_id: str) -> bool:
    query = sa.select(outbox_events.c.id).where(outbox_events.c.event_id == event_id)
    return connection.execute(query).first() is not None


def emit(
    connection: Connection,
    type: EventType,
    customer_id: int | None,
    data: dict[str, Any],
    now: datetime,
    *,
    event_id: str | None = None,
) -> str:
    """Writes one event into the outbox on ``connection`` (inside the caller's transaction) and
    returns its ``event_id`` (``event_id``, when given, from ``new_event_id``). ``data`` must be
    JSON: ids, strings, ints, ISO times."""
    require(isinstance(type, EventType), "an event's type is an EventType", repr(type))
    if event_id is None:
        event_id = new_event_id()
    connection.execute(
        outbox_events.insert().values(
            event_id=event_id, type=type.value, customer_id=customer_id, data=data, created_at=now
        )
    )
    return event_id


def emit_many(
    connection: Connection,
    type: EventType,
    customer_id: int | None,
    events: list[tuple[dict[str, Any], datetime]],
) -> None:
    """Writes (data, created_at) events of one type into the outbox in one statement."""
    if not events:
        return
    connection.execute(
        outbox_events.insert(),
        [
            {
                "event_id": new_event_id(),
                "type": type.value,
                "customer_id": customer_id,
                "data": data,
                "created_at": created_at,
            }
            for data, created_at in events
        ],
    )


def events_after(
    connection: Connection,
    after_id: int,
    limit: int = EVENTS_PAGE_MAX,
    *,
    customer_id: int | None = None,
    type: EventType | None = None,
) -> list[Event]:
    """Events with an id above ``after_id``, oldest first, at most ``limit``."""
    # Callers check a requested limit as input first (the listing's InvalidRequest on "limit").
    require(0 < limit <= EVENTS_PAGE_MAX, "an events page is bounded", f"limit {limit}")
    query = (
        sa.select(outbox_events, customers.c.external_id)
        .select_from(outbox_events.outerjoin(customers))
        .where(outbox_events.c.id > after_id)
        .order_by(outbox_events.c.id)
        .limit(limit)
    )
    if customer_id is not None:
        query = query.where(outbox_events.c.customer_id == customer_id)
    if type is not None:
        query = query.where(outbox_events.c.type == type.value)
    return [
        Event(
            id=row.id,
            event_id=row.event_id,
            type=EventType(row.type),
            customer=row.external_id,
            created_at=row.created_at,
            data=dict(row.data),
        )
        for row in connection.execute(query)
    ]
