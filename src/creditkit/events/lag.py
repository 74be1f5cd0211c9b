"""The ingest workers' lag, as JetStream counts it: for each consumer of the events stream, the
events not delivered yet, those delivered and not yet acknowledged (not yet charged), and the
oldest event not acknowledged with its age. ``read_lag`` creates neither stream nor consumer."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

import nats
from nats.aio.client import Client as Nats
from nats.errors import Error as NatsError
from nats.js import JetStreamManager
from nats.js.api import ConsumerInfo
from nats.js.errors import Error as JetStreamError
from nats.js.errors import NotFoundError

from creditkit.events.errors import EventsUnavailable
from creditkit.events.stream import CONNECT_TIMEOUT_SECONDS, STREAM, SUBJECT

#: Consumers of the stream read at once, at most (JetStream lists 256 a page; the workers share
#: one durable consumer, so more than a handful means something else consumes the stream).
CONSUMERS_MAX = 256
#: How long each JetStream request of the read may take, in seconds.
READ_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class OldestUnacknowledged:
    """The oldest event a consumer has not acknowledged: its sequence in the stream, when the
    stream stored it (the NATS server's clock), and its age at the time of the read."""

    sequence: int
    stored_at: datetime
    age_seconds: int


@dataclass(frozen=True, slots=True)
class ConsumerLag:
    """One consumer's lag: ``pending`` events not delivered yet, ``unacknowledged`` delivered
    and not yet acknowledged, ``redelivered`` of those delivered more than once, ``waiting``
    pull requests (workers idle, asking for more); ``oldest`` None when nothing is left."""

    consumer: str
    pending: int
    unacknowledged: int
    redelivered: int
    waiting: int
    oldest: OldestUnacknowledged | None


@dataclass(frozen=True, slots=True)
class StreamLag:
    """The stream's events held (not yet acknowledged by its work-queue consumer) and each
    consumer's lag; ``exists`` False when nothing ever created the stream."""

    stream: str
    exists: bool
    events: int
    consumers: tuple[ConsumerLag, ...]


def age_seconds(stored_at: datetime, now: datetime) -> int:
    """Whole seconds from ``stored_at`` to ``now``; 0 when the clocks disagree the other way."""
    return max(0, int((now - stored_at).total_seconds()))


async def stream_lag(js: JetStreamManager, now: datetime) -> StreamLag:
    """The stream's lag read through ``js``, ages counted to ``now``. Raises JetStream's and
    the connection's errors (the caller says what they mean to its reader)."""
    try:
        info = await js.stream_info(STREAM)
    except NotFoundError:
        return StreamLag(STREAM, False, 0, ())
    consumers = (await js.consumers_info(STREAM))[:CONSUMERS_MAX]
    lags = [await _consumer_lag(js, consumer, now) for consumer in consumers]
    events = int(info.state.messages or 0)
    return StreamLag(STREAM, True, events, tuple(sorted(lags, key=lambda lag: lag.consumer)))


async def _consumer_lag(js: JetStreamManager, info: ConsumerInfo, now: datetime) -> ConsumerLag:
    pending = int(info.num_pending or 0)
    unacknowledged = int(info.num_ack_pending or 0)
    oldest = None
    if pending or unacknowledged:
        oldest = await _oldest(js, info, now)
    return ConsumerLag(
        consumer=info.name,
        pending=pending,
        unacknowledged=unacknowledged,
        redelivered=int(info.num_redelivered or 0),
        waiting=int(info.num_waiting or 0),
        oldest=oldest,
    )


async def _oldest(
    js: JetStreamManager, info: ConsumerInfo, now: datetime
) -> OldestUnacknowledged | None:
    """The first event of the consumer's subject past its acknowledgement floor (every event at
    or below the floor is acknowledged; the one right after it is not, by definition)."""
    floor = info.ack_floor.stream_seq if info.ack_floor is not None else 0
    subject = info.config.filter_subject or SUBJECT
    try:
        message = await js.get_msg(STREAM, seq=floor + 1, subject=subject, next=True)
    except NotFoundError:
        return None  # acknowledged between the two reads
    if message.seq is None or message.time is None:
        return None
    return OldestUnacknowledged(message.seq, message.time, age_seconds(message.time, now))


async def read_lag(servers: tuple[str, ...], now: datetime) -> StreamLag:
    """The lag read on a connection of its own, closed after; ``EventsUnavailable`` when no
    server answers or JetStream does not (no leader yet)."""
    try:
        # Bounded: a connection that reconnects without end (the workers') would wait forever
        # for servers that are all down; a read gives up and says so.
        async with asyncio.timeout(READ_TIMEOUT_SECONDS):
            connection: Nats = await nats.connect(
                servers=list(servers),
                name="creditkit-lag",
                connect_timeout=CONNECT_TIMEOUT_SECONDS,
                max_reconnect_attempts=1,
                reconnect_time_wait=0.1,
                error_cb=_quiet,
            )
    except (OSError, NatsError, TimeoutError) as error:
        raise EventsUnavailable(f"no server answered ({error!r})", doing="answer") from None
    try:
        return await lag_through(connection.jetstream(timeout=READ_TIMEOUT_SECONDS), now)
    finally:
        await connection.close()


async def _quiet(error: Exception) -> None:
    """A server down: the read tries the next, and reports if none answers."""


async def lag_through(js: JetStreamManager, now: datetime) -> StreamLag:
    """``stream_lag``, its errors as ``EventsUnavailable``."""
    try:
        return await stream_lag(js, now)
    except (NatsError, JetStreamError, TimeoutError) as error:
        raise EventsUnavailable(repr(error), doing="answer") from None
