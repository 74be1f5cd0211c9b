"""``creditkit ingest-worker``: a pull consumer of the events stream that charges each batch
through the ledger and acknowledges it after the commit. Several can run: each message goes to
one of them, and a message redelivered (a worker died before its acknowledgement) is charged
once all the same, by the ledger's unique idempotency key."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from nats.aio.client import Client as Nats
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.errors import Error as JetStreamError

from creditkit.errors import CreditKitError, InvalidRequest, InvariantViolation, LedgerBusy
from creditkit.events.errors import EventsUnavailable
from creditkit.events.lag import read_lag
from creditkit.events.messages import EVENTS_PER_MESSAGE_MAX, Unreadable, decoded
from creditkit.events.repository import ParkedCount, ParkedEvent, park, parked_count
from creditkit.events.running import run_to_end
from creditkit.events.stream import (
    ACK_PENDING_MAX,
    CONSUMER,
    STREAM,
    check_partitions,
    connect,
    consumer_config,
    ensure_stream,
    partition_subject,
)
from creditkit.kit import CreditKit
from creditkit.store.database import DATABASE_ERRORS
from creditkit.usage.checks import INGEST_EVENTS_MAX

logger = logging.getLogger("creditkit.events")

#: Events fetched and charged together (``--batch-max``): one ledger transaction, one
#: ``ingest`` call, so at most ``INGEST_EVENTS_MAX`` (as many as ``charge_many`` takes). The
#: default is the bound: the ledger's cost per batch grows with the customers it names, not
#: only its events, so a backlog is charged 2 to 3 times faster in batches of 10,000 than of
#: 1,000 (bench/ingest_throughput.py); a smaller ``--batch-max`` keeps each transaction's
#: customer locks shorter. A worker takes what the stream holds, so batches are only this large
#: while it catches up.
BATCH_MAX = INGEST_EVENTS_MAX
BATCH_DEFAULT = INGEST_EVENTS_MAX
#: Messages fetched at once, at most: a message holds 1 to ``EVENTS_PER_MESSAGE_MAX`` events,
#: so each fetch asks for as many messages as make a batch at the last fetch's events per
#: message (the first asks for one full message's worth, so that workers starting on a backlog
#: share it). This bounds what one fetch may bring when small messages give way to large ones.
FETCH_MESSAGES_MAX = 256
#: How long one fetch waits for events, in seconds: also how soon a stop is noticed when idle.
FETCH_SECONDS = 0.5
#: Deliveries of one event at most: past them a failure that looked transient parks it.
DELIVERIES_MAX = 10
#: The delay before a redelivery after a transient failure: doubling from the first, at most the
#: last, in seconds.
RETRY_DELAY_SECONDS_FIRST = 0.5
RETRY_DELAY_SECONDS_MAX = 30.0
#: Attempts to reach the stream's consumer at start, at most.
SUBSCRIBE_ATTEMPTS_MAX = 15
#: How long the worker tries to reach the stream at start, in seconds, at most (connecting
#: included: a connection retries its servers without end): past it, it gives up with
#: ``EventsUnavailable`` (``creditkit ingest-worker`` prints one line and exits 1) rather than
#: wait on servers that are all down. ``--start-seconds`` sets it.
START_SECONDS_DEFAULT = 300.0
START_SECONDS_MAX = 3_600.0
#: How often the worker logs its lag, in seconds.
LAG_LOG_SECONDS = 10.0
#: Errors of one event that a later delivery may not meet again: it is retried, not parked.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (LedgerBusy, *DATABASE_ERRORS)
#: Errors of a whole batch (the database away, ...): each of its events is retried later.
BATCH_RETRIED_ERRORS: tuple[type[BaseException], ...] = (*TRANSIENT_ERRORS, CreditKitError)

# A batch is one ingest call; a worker holds two at once (one charging, one arriving), and
# those must fit in what JetStream lets the consumer hold unacknowledged.
if not 1 <= BATCH_DEFAULT <= BATCH_MAX <= INGEST_EVENTS_MAX:
    raise InvariantViolation(
        "a worker's batch fits in one ingest call",
        f"{BATCH_DEFAULT} <= {BATCH_MAX} <= {INGEST_EVENTS_MAX}",
    )
if 2 * FETCH_MESSAGES_MAX > ACK_PENDING_MAX:
    raise InvariantViolation(
        "a worker's two fetches fit in the consumer's unacknowledged bound",
        f"2 * {FETCH_MESSAGES_MAX} > {ACK_PENDING_MAX}",
    )
if EVENTS_PER_MESSAGE_MAX > BATCH_MAX:
    raise InvariantViolation(
        "a message's events fit in one ingest call",
        f"{EVENTS_PER_MESSAGE_MAX} > {BATCH_MAX}",
    )


@dataclass(frozen=True, slots=True)
class WorkerLag:
    """What the workers have still to do: ``pending`` events not delivered yet,
    ``unacknowledged`` delivered and not yet charged (or redelivered), ``parked`` refused
    (counted up to ``PARKED_COUNT_MAX``)."""

    pending: int
    unacknowledged: int
    parked: ParkedCount


def retry_delay_seconds(deliveries: int) -> float:
    """The delay before the next delivery of an event delivered ``deliveries`` times."""
    exponent = max(0, min(deliveries - 1, 16))
    delay: float = RETRY_DELAY_SECONDS_FIRST * 2**exponent
    return min(delay, RETRY_DELAY_SECONDS_MAX)


Subscription = JetStreamContext.PullSubscription


def owned_partitions(partitions: int, owned: tuple[int, ...] | None) -> tuple[int, ...]:
    """The partitions a worker consumes: ``owned`` (each 0 to ``partitions - 1``, named once),
    or all of them; raises ``InvalidRequest`` naming ``--partitions``."""
    check_partitions(partitions)
    if owned is None:
        return tuple(range(partitions))
    if not owned or len(set(owned)) != len(owned):
        raise InvalidRequest("--partitions", "name each partition once, at least one")
    if not all(0 <= partition < partitions for partition in owned):
        raise InvalidRequest("--partitions", f"each must be 0 to {partitions - 1}")
    return tuple(sorted(owned))


class IngestWorker:
    """Charges the stream's events through ``kit`` (which needs the catalog that prices them):
    of every partition, or of those ``owned`` (``partitions`` of them: the ``events_partitions``
    setting that the publishers share). Workers owning different partitions never charge the
    same customers."""

    def __init__(
        self,
        kit: CreditKit,
        servers: tuple[str, ...],
        batch_max: int = BATCH_DEFAULT,
        start_seconds: float = START_SECONDS_DEFAULT,
        partitions: int = 1,
        owned: tuple[int, ...] | None = None,
    ):
        self._kit = kit
        self._servers = servers
        self._partitions = partitions
        self._owned = owned_partitions(partitions, owned)
        self._batch_max = max(1, min(batch_max, BATCH_MAX))
        self._start_seconds = min(max(start_seconds, 0.05), START_SECONDS_MAX)
        self.charged = 0
        self.parked = 0
        #: Events per message in the last fetch: how many messages the next one asks for.
        self._events_per_message = float(EVENTS_PER_MESSAGE_MAX)

    def _consumers(self) -> list[tuple[int, int]]:
        """The (partition, partitions) of each consumer this worker pulls from: its partitions',
        and with several partitions, the owner of partition 0 also drains the one subject (what
        was published before there were partitions)."""
        found = [(partition, self._partitions) for partition in self._owned]
        if self._partitions > 1 and 0 in self._owned:
            found.append((0, 1))
        return found

    async def _subscribe(self, seconds: float) -> tuple[Nats, list[Subscription]]:
        connection = await connect(self._servers, "creditkit-ingest-worker", seconds)
        try:
            js = connection.jetstream()
            await ensure_stream(connection, js)
            subscriptions = [
                await js.pull_subscribe(
                    partition_subject(partition, partitions),
                    durable=config.durable_name,
                    stream=STREAM,
                    config=config,
                )
                for partition, partitions in self._consumers()
                for config in [consumer_config(partition, partitions)]
            ]
        except BaseException:
            await connection.close()
            raise
        return connection, subscriptions

    def run(self, stop: threading.Event) -> None:
        """Works until ``stop`` is set, then finishes its batch and disconnects."""
        run_to_end(self._run(stop))

    async def _subscribed(self, stop: threading.Event) -> tuple[Nats, list[Subscription]] | None:
        """The consumer, once the stream answers (a cluster starting or electing a leader may
        not yet); None when stopped first. Raises ``EventsUnavailable`` after
        ``SUBSCRIBE_ATTEMPTS_MAX`` attempts or the start's seconds, whichever comes first."""
        deadline = time.monotonic() + self._start_seconds
        error: BaseException | None = None
        for attempt in range(1, SUBSCRIBE_ATTEMPTS_MAX + 1):
            left = deadline - time.monotonic()
            if stop.is_set():
                return None
            if left <= 0:
                break
            try:
                # The whole attempt bounded: the stream's requests too, not only the connect.
                async with asyncio.timeout(left):
                    return await self._subscribe(left)
            except (OSError, NatsError, JetStreamError, TimeoutError) as failed:
                error = failed
                logger.warning("events stream not ready (attempt %d): %r", attempt, error)
            # The last attempt's failure is final: no wait after it.
            if attempt < SUBSCRIBE_ATTEMPTS_MAX:
                left = deadline - time.monotonic()
                await asyncio.sleep(max(0.0, min(retry_delay_seconds(attempt), left)))
        why = (
            "no server answered"
            if error is None or isinstance(error, TimeoutError)
            else repr(error)
        )
        raise EventsUnavailable(
            f"{why} within {self._start_seconds:g} s ({', '.join(self._servers)})", doing="answer"
        )

    async def _run(self, stop: threading.Event) -> None:
        subscribed = await self._subscribed(stop)
        if subscribed is None:
            return
        connection, subscriptions = subscribed
        logged_at = time.monotonic()
        # Each consumer's next fetch runs while the one in hand is charged (the ledger's
        # transaction runs in a thread): at most one fetch held per consumer, and one charging.
        fetching: dict[asyncio.Task[list[Msg]], Subscription] = {
            asyncio.create_task(self._fetch(subscription)): subscription
            for subscription in subscriptions
        }
        try:
            while fetching:
                done, _waiting = await asyncio.wait(fetching, return_when=asyncio.FIRST_COMPLETED)
                task = done.pop()
                subscription = fetching.pop(task)
                messages = task.result()
                # Stopped: the fetches in hand are charged and acknowledged, none after them.
                if not stop.is_set():
                    fetching[asyncio.create_task(self._fetch(subscription))] = subscription
                # A fetch may hand over more than asked (messages left by an earlier request
                # that timed out): charged in batches of the bound all the same.
                for batch in self._batches(messages):
                    await self._apply(batch)
                if messages:
                    await connection.flush()
                if time.monotonic() - logged_at >= LAG_LOG_SECONDS:
                    logged_at = time.monotonic()
                    await self._log_lag(subscription)
        finally:
            for left in fetching:
                # Left by an error: what it brought is delivered again after ACK_WAIT_SECONDS.
                left.cancel()
            # Every batch's acknowledgements were flushed after it: nothing is left to drain.
            await connection.close()

    async def _fetch(self, subscription: Subscription) -> list[Msg]:
        """The next batch: what the stream holds for this worker, up to the bound; empty when
        nothing came within ``FETCH_SECONDS`` or the stream is away for a moment."""
        wanted = max(1, min(FETCH_MESSAGES_MAX, int(self._batch_max / self._events_per_message)))
        try:
            return await subscription.fetch(wanted, timeout=FETCH_SECONDS)
        except (NatsTimeoutError, TimeoutError):
            return []
        except (NatsError, JetStreamError) as error:
            # A node lost or a leader being elected: the connection finds another.
            logger.warning("events fetch failed: %r", error)
            await asyncio.sleep(FETCH_SECONDS)
            return []

    async def _log_lag(self, subscription: Subscription) -> None:
        try:
            info = await subscription.consumer_info()
        except (NatsError, JetStreamError, TimeoutError) as error:
            logger.warning("events lag unknown: %r", error)
            return
        logger.info(
            "events lag",
            extra={
                "fields": {
                    "pending": info.num_pending,
                    "unacknowledged": info.num_ack_pending,
                    "charged": self.charged,
                    "parked": self.parked,
                }
            },
        )

    def _batches(self, messages: list[Msg]) -> list[list[tuple[Msg, Decoded]]]:
        """The fetched messages decoded (one parse each) and grouped into batches of whole
        messages of at most ``batch_max`` events (a message larger than the bound alone)."""
        batches: list[list[tuple[Msg, Decoded]]] = []
        batch: list[tuple[Msg, Decoded]] = []
        size = total = 0
        for message in messages:
            found = _decoded(message)
            count = len(found) if isinstance(found, list) else 1
            total += count
            if batch and size + count > self._batch_max:
                batches.append(batch)
                batch, size = [], 0
            batch.append((message, found))
            size += count
        if batch:
            batches.append(batch)
        if messages:
            self._events_per_message = total / len(messages)
        return batches

    async def _apply(self, batch: Sequence[tuple[Msg, Decoded]]) -> None:
        """Charges the batch's events in one ingest call (in slices of the bound when one message
        holds more), parks those that cannot be charged, then acknowledges each message whose
        events are all charged or parked; a message with an event that failed transiently is
        delivered again later (its charged events are not charged twice: their keys)."""
        events: list[dict[str, Any]] = []
        owners: list[Msg] = []
        to_park: list[ParkedEvent] = []
        for message, found in batch:
            if isinstance(found, ParkedEvent):
                to_park.append(found)
                continue
            events.extend(found)
            owners.extend([message] * len(found))
        refused: dict[int, CreditKitError] = {}
        for start in range(0, len(events), self._batch_max):
            sliced = await self._refused(events[start : start + self._batch_max])
            refused.update((start + at, error) for at, error in sliced.items())
        retry: dict[int, Msg] = {}
        for at, error in refused.items():
            message = owners[at]
            if isinstance(error, LedgerBusy) and _deliveries(message) < DELIVERIES_MAX:
                retry[id(message)] = message
            else:
                to_park.append(_refused(events[at], error))
        charged = len(events) - len(refused)
        if to_park:
            now = self._kit.now()
            self.parked += await asyncio.to_thread(park, self._kit.database, to_park, now)
        for message, _found in batch:
            if id(message) not in retry:
                await message.ack()
        for message in retry.values():
            await message.nak(delay=retry_delay_seconds(_deliveries(message)))
        self.charged += charged

    async def _refused(self, events: list[dict[str, Any]]) -> dict[int, CreditKitError]:
        """The events of one ingest call (one transaction) not charged, by position, with their
        errors (no ``Charge`` is built: the worker reads none); a failure of the whole call (the
        database away, ...) as each event's, retried later and parked with the error once its
        deliveries are spent."""
        try:
            return await asyncio.to_thread(self._kit.ingest_refusals, events)
        except BATCH_RETRIED_ERRORS as error:
            logger.warning("events batch not charged, retried later: %r", error)
            failed = _as_error(error)
            return dict.fromkeys(range(len(events)), failed)

    def lag(self) -> WorkerLag:
        """The workers' consumers' lag as JetStream counts it, in messages, all partitions
        together (every message of the stream pending while no worker has created a consumer
        yet), and the events parked so far."""
        found = run_to_end(read_lag(self._servers, self._kit.now()))
        mine = [
            lag
            for lag in found.consumers
            if lag.consumer == CONSUMER or lag.consumer.startswith(CONSUMER + "-")
        ]
        pending, unacknowledged = (
            (sum(lag.pending for lag in mine), sum(lag.unacknowledged for lag in mine))
            if mine
            else (found.events, 0)
        )
        return WorkerLag(pending, unacknowledged, parked_count(self._kit.database))


def _deliveries(message: Msg) -> int:
    return int(message.metadata.num_delivered or 1)


def _as_error(error: BaseException) -> CreditKitError:
    """A whole batch's transient failure, as each event's outcome (retried as ``LedgerBusy``)."""
    return error if isinstance(error, LedgerBusy) else LedgerBusy(1, repr(error))


#: A message decoded: its events, or its parking when it holds none that can be read.
Decoded = list[dict[str, Any]] | ParkedEvent


def _decoded(message: Msg) -> Decoded:
    """The events a message holds, or its parking (under its ``Nats-Msg-Id``) when none can be
    read."""
    key = (message.headers or {}).get("Nats-Msg-Id") or f"seq:{message.metadata.sequence.stream}"
    found = decoded(key, message.data)
    if isinstance(found, Unreadable):
        event = found.event
        return ParkedEvent(key, _customer(event), event, "malformed_event", found.detail)
    return found


def _refused(event: dict[str, Any], error: CreditKitError) -> ParkedEvent:
    return ParkedEvent(
        str(event["idempotency_key"]), _customer(event), event, error.code, str(error)
    )


def _customer(event: dict[str, Any]) -> str | None:
    customer = event.get("customer")
    return customer if isinstance(customer, str) else None
