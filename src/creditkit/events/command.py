"""``creditkit ingest-worker``: charges the events stream's events until SIGTERM or Ctrl-C;
``--lag`` prints what is left to do and exits."""

from __future__ import annotations

import signal
import sys
import threading

from creditkit.errors import InvalidRequest
from creditkit.events.stream import events_servers
from creditkit.events.worker import BATCH_MAX, IngestWorker
from creditkit.kit import CreditKit
from creditkit.server.serve import Settings, configure_logging


def run_ingest_worker(settings: Settings, lag: bool, batch_max: int) -> int:
    if settings.events is None:
        raise InvalidRequest(
            "events",
            "name the events stream's servers: --events nats://127.0.0.1:4222[,nats://…]"
            " (also $CREDITKIT_EVENTS_URL or events in the config file), as serve's",
        )
    if not 1 <= batch_max <= BATCH_MAX:
        raise InvalidRequest("--batch-max", f"must be 1 to {BATCH_MAX}")
    servers = events_servers(settings.events)
    settings.require_secret_key()
    with CreditKit(
        settings.database_url,
        catalog=settings.catalog_path(),
        secret_key=settings.secret_key,
        clock=settings.clock(),
    ) as ck:
        worker = IngestWorker(ck, servers, batch_max)
        if lag:
            found = worker.lag()
            print(
                f"pending {found.pending}, unacknowledged {found.unacknowledged},"
                f" parked {found.parked}"
            )
            return 0
        configure_logging()
        stop = threading.Event()
        # SIGTERM (a container stopping) and Ctrl-C: the batch in hand is charged and
        # acknowledged, then the worker disconnects.
        signal.signal(signal.SIGTERM, lambda _signal, _frame: stop.set())
        signal.signal(signal.SIGINT, lambda _signal, _frame: stop.set())
        print(f"creditkit: ingest-worker: charging events from {settings.events}", file=sys.stderr)
        worker.run(stop)
        print(
            f"creditkit: ingest-worker: stopped; {worker.charged} charged, {worker.parked} parked",
            file=sys.stderr,
        )
    return 0
