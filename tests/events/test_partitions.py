"""Events partitioned by customer: each partition a subject and a consumer of its own, a
request's events published to their customers' partitions, and workers owning different
partitions charging different customers, each event once (a one-node JetStream started here)."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from events_helpers import charged_keys, running, wait_until

from creditkit import CreditKit, ManualClock
from creditkit.errors import InvalidRequest
from creditkit.events.lag import read_lag
from creditkit.events.nodes import LocalNodes
from creditkit.events.publisher import EventPublisher
from creditkit.events.running import run_to_end
from creditkit.events.stream import (
    CONSUMER,
    PARTITIONS_MAX,
    STREAM,
    SUBJECT,
    partition_of,
    partition_subject,
)
from creditkit.events.worker import IngestWorker, owned_partitions
from creditkit.server.serve import example_catalog

#: Two customers in partition 0 of 2 and one in partition 1 (checked below).
IN_ZERO, ALSO_IN_ZERO, IN_ONE = "u1", "u2", "u4"


def test_a_customers_partition_is_the_same_everywhere_and_in_range() -> None:
    assert [partition_of(c, 2) for c in (IN_ZERO, ALSO_IN_ZERO, IN_ONE)] == [0, 0, 1]
    assert partition_of("u4", 4) == zlib.crc32(b"u4") % 4
    assert all(0 <= partition_of(f"c{n}", 7) < 7 for n in range(200))
    assert partition_subject(3, 4) == f"{SUBJECT}.3"
    assert partition_subject(0, 1) == SUBJECT  # one partition: the subject as it always was


def test_a_worker_owns_partitions_that_exist_each_once() -> None:
    assert owned_partitions(4, None) == (0, 1, 2, 3)
    assert owned_partitions(4, (2, 0)) == (0, 2)
    for owned in [(4,), (1, 1), ()]:
        with pytest.raises(InvalidRequest) as refused:
            owned_partitions(4, owned)
        assert refused.value.field == "--partitions"
    with pytest.raises(InvalidRequest) as refused:
        owned_partitions(PARTITIONS_MAX + 1, None)
    assert refused.value.field == "events_partitions"
    with pytest.raises(InvalidRequest):
        EventPublisher(("nats://127.0.0.1:1",), partitions=0)


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[LocalNodes]:
    with LocalNodes(tmp_path / "nats", 1) as started:
        yield started


@pytest.fixture
def kit(database_url: str, clock: ManualClock) -> Iterator[CreditKit]:
    with CreditKit(database_url, catalog=example_catalog(), clock=clock) as opened:
        yield opened


def _event(key: str, customer: str) -> dict[str, Any]:
    return {
        "customer": customer,
        "action": "chat_message",
        "idempotency_key": key,
        "metadata": {"key": key},
    }


async def _publish(nodes: LocalNodes, events: list[dict[str, Any]], partitions: int) -> None:
    publisher = EventPublisher(nodes.urls, partitions=partitions)
    try:
        await publisher.publish(events)
        await publisher.publish(events)  # retried: the same messages, dropped by JetStream
    finally:
        await publisher.close()


async def _messages_by_subject(nodes: LocalNodes) -> dict[str, int]:
    connection = await nats.connect(servers=list(nodes.urls))
    try:
        info = await connection.jetstream().stream_info(STREAM, subjects_filter=">")
    finally:
        await connection.close()
    return dict(info.state.subjects or {})


def test_workers_owning_different_partitions_charge_different_customers_once(
    kit: CreditKit, nodes: LocalNodes
) -> None:
    for customer in (IN_ZERO, ALSO_IN_ZERO, IN_ONE):
        kit.create_customer(customer)
    # Published before there were partitions: the owner of partition 0 drains it too.
    run_to_end(_publish(nodes, [_event("before", IN_ONE)], partitions=1))
    events = [_event(f"{customer}-{n}", customer) for n in range(5) for customer in
              (IN_ZERO, IN_ONE, ALSO_IN_ZERO)]  # fmt: skip
    run_to_end(_publish(nodes, events, partitions=2))
    assert run_to_end(_messages_by_subject(nodes)) == {
        SUBJECT: 1,
        f"{SUBJECT}.0": 1,  # u1's and u2's ten events, in their order: one message
        f"{SUBJECT}.1": 1,
    }
    zero = IngestWorker(kit, nodes.urls, partitions=2, owned=(0,))
    one = IngestWorker(kit, nodes.urls, partitions=2, owned=(1,))
    with running([zero, one]):
        wait_until(lambda: zero.charged + one.charged == 16, "16 charges")
        wait_until(lambda: zero.lag().unacknowledged == 0, "all acknowledged")
        lag = run_to_end(read_lag(nodes.urls, kit.now()))
    # Each worker charged its partitions' customers only (and partition 0's owner the event
    # published before partitioning).
    assert (zero.charged, one.charged) == (11, 5)
    assert charged_keys(kit, IN_ZERO) == {f"u1-{n}": 1 for n in range(5)}
    assert charged_keys(kit, ALSO_IN_ZERO) == {f"u2-{n}": 1 for n in range(5)}
    assert charged_keys(kit, IN_ONE) == {"before": 1, **{f"u4-{n}": 1 for n in range(5)}}
    assert [consumer.consumer for consumer in lag.consumers] == [
        CONSUMER,
        f"{CONSUMER}-0",
        f"{CONSUMER}-1",
    ]
    assert all(consumer.pending == 0 for consumer in lag.consumers)
    assert kit.audit().ok
