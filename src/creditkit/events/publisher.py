"""Publishing usage events to the stream, each acknowledged by JetStream (its PubAck: stored on
a majority of the replicas) before ``POST /v1/events`` answers 202."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from nats.aio.client import Client as Nats
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.errors import Error as JetStreamError

from creditkit.events.errors import EventsUnavailable
from creditkit.events.lag import StreamLag, lag_through
from creditkit.events.messages import Chunk, chunks, encoded_events, message_bytes_max
from creditkit.events.stream import (
    STREAM,
    check_partitions,
    connect,
    ensure_stream,
    partition_of,
    partition_subject,
)

#: How long a batch's events may wait for their acknowledgements, in seconds: past it the
#: caller gets 503 and retries (with the same keys: nothing is charged twice).
PUBLISH_TIMEOUT_SECONDS = 5.0
PUBLISH_TIMEOUT_SECONDS_MAX = 60.0
#: Messages (chunks of events) published at once and not yet acknowledged, per process, at most.
PUBLISHES_PENDING_MAX = 4_000


class EventPublisher:
    """Publishes events to the stream from one event loop (a server process's), each to its
    customer's partition (``partitions`` of them: the ``events_partitions`` setting, which the
    workers must share). Connects on first use; reconnects on its own while open."""

    def __init__(
        self,
        servers: tuple[str, ...],
        timeout_seconds: float = PUBLISH_TIMEOUT_SECONDS,
        partitions: int = 1,
    ) -> None:
        self._servers = servers
        self._partitions = check_partitions(partitions)
        self._timeout_seconds = min(max(timeout_seconds, 0.05), PUBLISH_TIMEOUT_SECONDS_MAX)
        self._connection: Nats | None = None
        self._js: JetStreamContext | None = None
        self._opening = asyncio.Lock()

    async def _stream(self) -> JetStreamContext:
        async with self._opening:
            if self._js is None:
                try:
                    # Bounded: the connection retries its servers without end, and a request
                    # waits no longer than its publish would.
                    connection = await connect(
                        self._servers, "creditkit-publisher", self._timeout_seconds
                    )
                except (OSError, NatsError, TimeoutError) as error:
                    raise EventsUnavailable(f"no server answered ({error!r})") from None
                js = connection.jetstream(publish_async_max_pending=PUBLISHES_PENDING_MAX)
                try:
                    await ensure_stream(connection, js)
                except (NatsError, JetStreamError, TimeoutError) as error:
                    await connection.close()
                    raise EventsUnavailable(f"the stream is not ready ({error!r})") from None
                self._connection, self._js = connection, js
            return self._js

    async def publish(self, events: Sequence[Mapping[str, Any]]) -> None:
        """Publishes the events as few messages as fit (events/messages.py), each with
        ``Nats-Msg-Id`` derived from its events' idempotency keys, and returns once JetStream
        acknowledged them all; raises ``EventsUnavailable`` otherwise (some may have been
        stored: a retry with the same keys charges each once), and ``InvalidRequest`` before
        publishing anything when an event is too large for a message."""
        js = await self._stream()
        connection = self._connection
        if connection is None:
            raise EventsUnavailable("the connection closed")
        found = self._chunks(events, message_bytes_max(connection.max_payload))
        try:
            async with asyncio.timeout(self._timeout_seconds):
                pending = [
                    await js.publish_async(
                        subject,
                        chunk.body,
                        stream=STREAM,
                        headers={"Nats-Msg-Id": chunk.message_id},
                    )
                    for subject, chunk in found
                ]
                await asyncio.gather(*pending)
        except TimeoutError:
            raise EventsUnavailable(
                f"no acknowledgement within {self._timeout_seconds:g} s"
            ) from None
        except (NatsError, JetStreamError) as error:
            raise EventsUnavailable(repr(error)) from None

    def _chunks(
        self, events: Sequence[Mapping[str, Any]], bytes_max: int
    ) -> list[tuple[str, Chunk]]:
        """Each partition's events (in their order) as its messages, with its subject."""
        encoded = encoded_events(events, bytes_max)
        if self._partitions == 1:
            return [
                (partition_subject(0, 1), chunk) for chunk in chunks(events, bytes_max, encoded)
            ]
        parts: dict[int, list[int]] = {}
        for index, event in enumerate(events):
            partition = partition_of(str(event.get("customer", "")), self._partitions)
            parts.setdefault(partition, []).append(index)
        return [
            (partition_subject(partition, self._partitions), chunk)
            for partition, indexes in sorted(parts.items())
            for chunk in chunks(
                [events[i] for i in indexes], bytes_max, [encoded[i] for i in indexes]
            )
        ]

    async def lag(self, now: datetime) -> StreamLag:
        """The stream's consumers' lag (events/lag.py), read on this publisher's connection;
        ``EventsUnavailable`` when the stream does not answer."""
        return await lag_through(await self._stream(), now)

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
            self._connection, self._js = None, None
