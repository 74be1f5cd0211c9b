"""``creditkit ingest-worker``: charges the events stream's events until SIGTERM or Ctrl-C;
``--lag`` prints what is left to do (one line per consumer) and exits. ``creditkit
parked-events`` lists what the workers parked, newest first."""

from __future__ import annotations

import signal
import sys
import threading

from creditkit.errors import InvalidRequest
from creditkit.events.lag import ConsumerLag, StreamLag, read_lag
from creditkit.events.messages import EVENTS_PER_MESSAGE_MAX
from creditkit.events.repository import (
    PARKED_PAGE_MAX,
    ParkedCount,
    ParkedRecord,
    parked_count,
    parked_page,
)
from creditkit.events.running import run_to_end
from creditkit.events.stream import events_servers
from creditkit.events.worker import (
    BATCH_MAX,
    START_SECONDS_DEFAULT,
    START_SECONDS_MAX,
    IngestWorker,
    owned_partitions,
)
from creditkit.kit import CreditKit
from creditkit.server.serve import Settings, configure_logging


def run_ingest_worker(
    settings: Settings,
    lag: bool,
    batch_max: int,
    start_seconds: float = START_SECONDS_DEFAULT,
    owned: str | None = None,
) -> int:
    """``owned``: the partitions this worker consumes, comma-separated (``0,2``); all when
    None."""
    if settings.events is None:
        raise InvalidRequest(
            "events",
            "name the events stream's servers: --events nats://127.0.0.1:4222[,nats://…]"
            " (also $CREDITKIT_EVENTS_URL or events in the config file), as serve's",
        )
    if not 1 <= batch_max <= BATCH_MAX:
        raise InvalidRequest("--batch-max", f"must be 1 to {BATCH_MAX}")
    if not 0 < start_seconds <= START_SECONDS_MAX:
        raise InvalidRequest(
            "--start-seconds", f"must be above 0 and at most {START_SECONDS_MAX:g}"
        )
    servers = events_servers(settings.events)
    partitions = owned_partitions(settings.events_partitions, _partitions_listed(owned))
    settings.require_secret_key()
    with CreditKit(
        settings.database_url,
        catalog=settings.catalog_path(),
        secret_key=settings.secret_key,
        clock=settings.clock(),
    ) as ck:
        if lag:
            found = run_to_end(read_lag(servers, ck.now()))
            for line in lag_lines(found, parked_count(ck.database)):
                print(line)
            return 0
        worker = IngestWorker(
            ck, servers, batch_max, start_seconds, settings.events_partitions, partitions
        )
        configure_logging()
        stop = threading.Event()
        # SIGTERM (a container stopping) and Ctrl-C: the batch in hand is charged and
        # acknowledged, then the worker disconnects.
        signal.signal(signal.SIGTERM, lambda _signal, _frame: stop.set())
        signal.signal(signal.SIGINT, lambda _signal, _frame: stop.set())
        print(
            f"creditkit: ingest-worker: charging events from {settings.events}, partitions"
            f" {','.join(str(partition) for partition in partitions)}"
            f" of {settings.events_partitions}",
            file=sys.stderr,
        )
        worker.run(stop)
        print(
            f"creditkit: ingest-worker: stopped; {worker.charged} charged, {worker.parked} parked",
            file=sys.stderr,
        )
    return 0


def _partitions_listed(owned: str | None) -> tuple[int, ...] | None:
    """``--partitions 0,2`` as numbers; raises ``InvalidRequest`` naming it."""
    if owned is None:
        return None
    parts = [part.strip() for part in owned.split(",")]
    if not all(part.isdigit() and len(part) <= 3 for part in parts):
        raise InvalidRequest("--partitions", "give partition numbers, comma-separated: 0,2")
    return tuple(int(part) for part in parts)


def lag_lines(lag: StreamLag, parked: ParkedCount) -> list[str]:
    """One line per consumer of the stream (or one saying there is none), then the parked
    (``parked at least 10000`` past the count's bound). JetStream counts messages, each one
    request's chunk of events (events/messages.py)."""
    if not lag.exists:
        lines = [f"no stream {lag.stream} yet: nothing was published"]
    elif not lag.consumers:
        lines = [
            f"no consumer yet: {lag.events} messages (of 1 to {EVENTS_PER_MESSAGE_MAX} events)"
            f" in {lag.stream} wait for an ingest-worker"
        ]
    else:
        lines = [_consumer_line(consumer) for consumer in lag.consumers]
    return [*lines, f"parked {parked}"]


def _consumer_line(lag: ConsumerLag) -> str:
    oldest = "none"
    if lag.oldest is not None:
        stored_at = lag.oldest.stored_at.isoformat(timespec="seconds")
        oldest = f"{lag.oldest.age_seconds} s old (sequence {lag.oldest.sequence}, {stored_at})"
    return (
        f"{lag.consumer}: pending {lag.pending}, unacknowledged {lag.unacknowledged},"
        f" redelivered {lag.redelivered}, waiting {lag.waiting}, oldest unacknowledged {oldest}"
    )


def run_parked_events(settings: Settings, limit: int, before_id: int | None) -> int:
    """Prints the newest parked events (``limit`` of them, before ``before_id``), one a line."""
    if not 1 <= limit <= PARKED_PAGE_MAX:
        raise InvalidRequest("--limit", f"must be 1 to {PARKED_PAGE_MAX}")
    if before_id is not None and before_id < 1:
        raise InvalidRequest("--before-id", "must be 1 or more (a parked event's id)")
    with CreditKit(settings.database_url, secret_key=settings.secret_key) as ck:
        page = parked_page(ck.database, limit, before_id)
    if not page.items:
        print("no parked events" if before_id is None else f"no parked events before {before_id}")
    for record in page.items:
        print(parked_line(record))
    if page.next_before_id is not None:
        print(f"older: creditkit parked-events --before-id {page.next_before_id}")
    return 0


def parked_line(record: ParkedRecord) -> str:
    event = record.event
    customer = "-" if event.customer is None else event.customer
    return (
        f"{record.id}  {record.parked_at.isoformat(timespec='seconds')}  {event.idempotency_key}"
        f"  {customer}  {event.reason}: {event.detail}"
    )
