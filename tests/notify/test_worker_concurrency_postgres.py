"""Several workers at once on PostgreSQL: fan-out and delivery claims skip what another worker
has locked, so every event reaches every endpoint exactly once."""

from __future__ import annotations

import json
import threading
from collections import Counter

import pytest
from notify_helpers import RECEIVERS_ON_THIS_MACHINE, Receiver

from creditkit import ChargeRequest, CreditKit, ManualClock
from creditkit.catalog import Catalog
from creditkit.notify import WorkerReport

pytestmark = pytest.mark.postgres

CUSTOMERS = 150
WORKERS = 2
ROUNDS_MAX = 200


def test_two_workers_deliver_every_event_exactly_once(
    postgres_url: str, start_clock: ManualClock, catalog: Catalog, receiver: Receiver
) -> None:
    setup = CreditKit(
        postgres_url, catalog=catalog, clock=start_clock, webhook_policy=RECEIVERS_ON_THIS_MACHINE
    )
    customers = [f"u{index}" for index in range(CUSTOMERS)]
    for customer in customers:
        setup.create_customer(customer)
    # Their creation's events (customer.created, credits.granted) go out before any endpoint
    # exists: what is counted below is what the charges make.
    with setup.worker() as drain:
        for _round in range(ROUNDS_MAX):
            if drain.run_once().events_fanned_out == 0:
                break
    created = setup.events(limit=500)
    after_id = created[-1].id
    setup.register_webhook_endpoint(receiver.url + "/a", idempotency_key="a")
    setup.register_webhook_endpoint(receiver.url + "/b", idempotency_key="b")
    # Each customer falls to 5 (credits.low), then to 0 (credits.depleted).
    setup.charge_many([ChargeRequest(c, 15, f"{c}-1") for c in customers])
    setup.charge_many([ChargeRequest(c, 5, f"{c}-2") for c in customers])
    events = setup.events(after_id=after_id, limit=500)
    assert len(events) == 2 * CUSTOMERS
    expected = 2 * len(events)  # two endpoints

    kits = [
        CreditKit(
            postgres_url,
            catalog=catalog,
            clock=start_clock,
            webhook_policy=RECEIVERS_ON_THIS_MACHINE,
        )
        for _ in range(WORKERS)
    ]
    reports: list[list[WorkerReport]] = [[] for _ in range(WORKERS)]
    start = threading.Barrier(WORKERS)

    def work(index: int) -> None:
        with kits[index].worker() as worker:
            start.wait()
            for _round in range(ROUNDS_MAX):
                reports[index].append(worker.run_once())
                if len(receiver.received) >= expected:
                    return

    threads = [threading.Thread(target=work, args=(index,)) for index in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    arrived = Counter(
        (request.path, json.loads(request.body)["id"]) for request in receiver.received
    )
    assert set(arrived) == {
        (path, event.event_id) for path in ("/hooks/a", "/hooks/b") for event in events
    }
    assert set(arrived.values()) == {1}
    delivered = sum(report.deliveries_delivered for done in reports for report in done)
    fanned_out = sum(report.events_fanned_out for done in reports for report in done)
    assert (delivered, fanned_out) == (expected, len(events))
    # Both really worked at once (each took a share), or the test proves nothing.
    assert all(sum(report.deliveries_delivered for report in done) > 0 for done in reports)
    assert {delivery.status.value for delivery in setup.webhook_deliveries(limit=500)} == {
        "delivered"
    }
    for kit in [setup, *kits]:
        kit.close()
