"""The JetStream stream usage events go through: its name, subject and configuration, the
servers' URLs as the ``events`` setting gives them, and a connection to them."""

from __future__ import annotations

import asyncio
import logging
import re
import zlib

from nats.aio.client import Client as Nats
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import NotFoundError

from creditkit.errors import InvalidRequest

STREAM = "CREDITKIT_EVENTS"
SUBJECT = "creditkit.events.usage"
#: The subjects of the partitions (``creditkit.events.usage.0``, ``.1``, ...), when there are
#: several: the stream holds them all, beside ``SUBJECT`` (one partition, and what earlier
#: versions published).
PARTITION_SUBJECTS = SUBJECT + ".*"
#: The durable pull consumer every ingest worker shares: each message goes to one of them.
#: With several partitions each has its own, ``creditkit-ingest-0``, ``-1``, ...
CONSUMER = "creditkit-ingest"
#: Partitions of the events by customer (the ``events_partitions`` setting), at most.
PARTITIONS_MAX = 64
#: How long JetStream remembers a ``Nats-Msg-Id`` to drop a republished event, in seconds. Short
#: on purpose: the ledger's unique idempotency key is what charges an event once, whenever it
#: comes back; this only spares the workers most retried publishes.
DUPLICATE_WINDOW_SECONDS = 120
#: Replicas of the stream on a cluster (a majority of 3 survives one node lost); 1 on one node.
CLUSTER_REPLICAS = 3
#: Servers in the ``events`` setting, at most.
SERVERS_MAX = 16
#: Events the stream holds at most, waiting for workers: past it a publish is refused (503),
#: never an old event dropped.
STREAM_MESSAGES_MAX = 10_000_000
#: How long a worker may hold a delivered event before JetStream delivers it again, in seconds.
ACK_WAIT_SECONDS = 60
#: Events delivered and not yet acknowledged, at most, across all workers.
ACK_PENDING_MAX = 20_000
#: Connecting to the servers: how long one server's attempt may take (``connect`` bounds them
#: all together by its caller's seconds).
CONNECT_TIMEOUT_SECONDS = 2
logger = logging.getLogger("creditkit.events")
_URL = re.compile(r"nats://[A-Za-z0-9.\-\[\]:]+:[0-9]{1,5}")


def events_servers(setting: str) -> tuple[str, ...]:
    """The servers' URLs of the ``events`` setting (``nats://h1:4222,nats://h2:4222``); raises
    ``InvalidRequest`` naming ``events``."""
    servers = tuple(part.strip() for part in setting.split(",") if part.strip())
    if not servers:
        raise InvalidRequest("events", "give at least one server: nats://host:port")
    if len(servers) > SERVERS_MAX:
        raise InvalidRequest("events", f"at most {SERVERS_MAX} servers")
    for server in servers:
        if _URL.fullmatch(server) is None:
            raise InvalidRequest(
                "events", f"{server!r} is not a server's URL: nats://host:port, comma-separated"
            )
    return servers


async def connect(servers: tuple[str, ...], name: str, seconds: float) -> Nats:
    """A connection to the first server that answers within ``seconds``; it follows the
    cluster's other nodes (the servers announce them) and reconnects without end while it stays
    open. Raises ``TimeoutError`` when none answered in time: the client retries its servers
    without end until its first connection too, so the bound is the caller's, and the client
    is closed before the error leaves (no socket or task left behind)."""
    connection = Nats()
    try:
        async with asyncio.timeout(seconds):
            await connection.connect(
                servers=list(servers),
                name=name,
                connect_timeout=CONNECT_TIMEOUT_SECONDS,
                max_reconnect_attempts=-1,
                # Seconds, a float: nats-py annotates it int but sleeps it as given.
                reconnect_time_wait=0.25,  # type: ignore[arg-type]
                allow_reconnect=True,
                error_cb=_report,
            )
    except BaseException:
        await connection.close()
        raise
    return connection


async def _report(error: Exception) -> None:
    """A connection's trouble (a node gone, a reconnect refused), logged once per event."""
    logger.warning("events server: %r", error)


def partition_of(customer: str, partitions: int) -> int:
    """The partition of ``customer``'s events, 0 to ``partitions - 1``: a checksum of its id,
    the same in every process (unlike Python's ``hash``)."""
    return zlib.crc32(customer.encode()) % partitions


def partition_subject(partition: int, partitions: int) -> str:
    """The subject of one partition's events (``SUBJECT`` itself when there is one)."""
    return SUBJECT if partitions == 1 else f"{SUBJECT}.{partition}"


def partition_consumer(partition: int, partitions: int) -> str:
    """The durable consumer of one partition (``CONSUMER`` itself when there is one)."""
    return CONSUMER if partitions == 1 else f"{CONSUMER}-{partition}"


def check_partitions(partitions: int) -> int:
    """``partitions`` when it is 1 to ``PARTITIONS_MAX``; raises ``InvalidRequest`` naming
    ``events_partitions`` otherwise."""
    if not 1 <= partitions <= PARTITIONS_MAX:
        raise InvalidRequest("events_partitions", f"must be 1 to {PARTITIONS_MAX}")
    return partitions


def _replicas(connection: Nats) -> int:
    """3 when the server is one of a cluster of 3 or more (its peers announced), else 1."""
    return CLUSTER_REPLICAS if len(connection.servers) >= CLUSTER_REPLICAS else 1


async def ensure_stream(connection: Nats, js: JetStreamContext) -> None:
    """Creates the stream when it does not exist yet; one that exists is left as it is, bar the
    partitions' subjects added to one made before there were partitions."""
    try:
        info = await js.stream_info(STREAM)
    except NotFoundError:
        info = None
    if info is not None:
        subjects = list(info.config.subjects or [])
        if PARTITION_SUBJECTS not in subjects:
            info.config.subjects = [*subjects, PARTITION_SUBJECTS]
            await js.update_stream(info.config)
        return
    await js.add_stream(
        StreamConfig(
            name=STREAM,
            subjects=[SUBJECT, PARTITION_SUBJECTS],
            retention=RetentionPolicy.WORK_QUEUE,
            storage=StorageType.FILE,
            num_replicas=_replicas(connection),
            duplicate_window=DUPLICATE_WINDOW_SECONDS,
            max_msgs=STREAM_MESSAGES_MAX,
            discard=DiscardPolicy.NEW,
        )
    )


def consumer_config(partition: int = 0, partitions: int = 1) -> ConsumerConfig:
    """The durable consumer of one partition (of the one subject by default)."""
    return ConsumerConfig(
        durable_name=partition_consumer(partition, partitions),
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=ACK_WAIT_SECONDS,
        max_ack_pending=ACK_PENDING_MAX,
        filter_subject=partition_subject(partition, partitions),
    )
