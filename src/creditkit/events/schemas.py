"""The events stream's operator reads as values, the same from the kit and over HTTP (the
client decodes ``GET /v1/ingest/lag`` and ``GET /v1/ingest/parked-events`` into them): like the
other packages' schemas, they import nothing of creditkit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class OldestUnacknowledgedEvent:
    """The oldest message a consumer has not acknowledged: its ``sequence`` in the stream,
    when the stream stored it (the NATS server's clock), and its age when read, in seconds."""

    sequence: int
    stored_at: datetime
    age_seconds: int


@dataclass(frozen=True, slots=True)
class IngestConsumerLag:
    """One consumer's lag, in messages (each one request's chunk of events): ``pending`` not
    delivered yet, ``unacknowledged`` delivered and not yet charged, ``redelivered`` of those
    delivered more than once, ``waiting`` pull requests of idle workers."""

    consumer: str
    pending: int
    unacknowledged: int
    redelivered: int
    waiting: int
    oldest_unacknowledged: OldestUnacknowledgedEvent | None


@dataclass(frozen=True, slots=True)
class IngestLag:
    """The ingest workers' lag: the ``events`` messages the stream holds, each consumer's lag,
    and the events parked so far (at least ``parked`` when ``parked_capped``)."""

    stream: str
    stream_exists: bool
    events: int
    consumers: tuple[IngestConsumerLag, ...]
    parked: int
    parked_capped: bool


@dataclass(frozen=True, slots=True)
class ParkedEventItem:
    """A usage event the workers could not charge: ``reason`` a stable code
    (``insufficient_credits``, ``unknown_customer``, ``malformed_event``, ...), ``event_json``
    the event as published (``{}`` when it could not be read): what to publish again, under a
    new key, once its reason is dealt with. ``id`` is the listing's cursor."""

    id: int
    idempotency_key: str
    customer: str | None
    reason: str
    detail: str
    parked_at: datetime
    action: str | None
    event_json: str


@dataclass(frozen=True, slots=True)
class ParkedEventsPage:
    """Parked events newest first; ``next_before_id`` lists the older ones (None: no more)."""

    items: tuple[ParkedEventItem, ...]
    next_before_id: int | None
