"""Fixtures of the notify tests: a catalog with alerts, a kit on it, and a real HTTP receiver
(``http.server`` in a thread) that records what it is sent and answers as told."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer

import pytest
from notify_helpers import ALERTS_CATALOG, RECEIVERS_ON_THIS_MACHINE, START, Receiver, handler

from creditkit import CreditKit, ManualClock
from creditkit.catalog import Catalog, parse_catalog


@pytest.fixture
def catalog() -> Catalog:
    return parse_catalog(ALERTS_CATALOG, "alerts.yaml")


@pytest.fixture
def start_clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def kit(database_url: str, start_clock: ManualClock, catalog: Catalog) -> Iterator[CreditKit]:
    with CreditKit(
        database_url, catalog=catalog, clock=start_clock, webhook_policy=RECEIVERS_ON_THIS_MACHINE
    ) as opened:
        yield opened


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    holder: list[Receiver] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler(lambda: holder[0]))
    holder.append(Receiver(f"http://127.0.0.1:{server.server_address[1]}/hooks"))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield holder[0]
    server.shutdown()
    server.server_close()
    thread.join()
