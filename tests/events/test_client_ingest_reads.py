"""The events stream's operator reads through ``Client`` (over real HTTP, a server on a one-node
JetStream started here) and from the embedded kit: the same values either way, and the same
refusal where there is no stream."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from creditkit import CreditKit, ManualClock
from creditkit.client import Client
from creditkit.client.testing import serve_in_thread
from creditkit.errors import InvalidRequest
from creditkit.events.errors import EventsNotConfigured
from creditkit.events.nodes import LocalNodes
from creditkit.events.publisher import EventPublisher
from creditkit.events.repository import ParkedEvent, park
from creditkit.events.running import run_to_end
from creditkit.events.schemas import IngestLag
from creditkit.events.stream import STREAM
from creditkit.keys.schemas import Scope
from creditkit.server import create_app
from creditkit.server.serve import example_catalog


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[LocalNodes]:
    with LocalNodes(tmp_path / "nats", 1) as started:
        yield started


@pytest.fixture
def kit(database_url: str, clock: ManualClock) -> Iterator[CreditKit]:
    with CreditKit(database_url, catalog=example_catalog(), clock=clock) as opened:
        yield opened


def _event(key: str) -> dict[str, Any]:
    return {"customer": "u1", "action": "chat_message", "idempotency_key": key}


async def _publish(nodes: LocalNodes, batches: list[list[dict[str, Any]]]) -> None:
    publisher = EventPublisher(nodes.urls)
    try:
        for events in batches:
            await publisher.publish(events)
    finally:
        await publisher.close()


def _park(kit: CreditKit, clock: ManualClock, count: int) -> None:
    for index in range(count):
        event = {**_event(f"p{index}"), "quantity": 5}
        refused = ParkedEvent(f"p{index}", "u1", event, "insufficient_credits", f"short {index}")
        park(kit.database, [refused], kit.now())
        clock.advance(seconds=1)


def test_the_client_reads_the_lag_and_the_parked_events_as_the_kit_lists_them(
    kit: CreditKit, nodes: LocalNodes, clock: ManualClock
) -> None:
    kit.create_customer("u1")
    _park(kit, clock, 3)
    # Two requests: one of three events, one of one; two messages.
    run_to_end(_publish(nodes, [[_event("a"), _event("b"), _event("c")], [_event("d")]]))
    secret = kit.keys.create_key("operator", Scope.ADMIN).secret
    app = create_app(kit, events=EventPublisher(nodes.urls))
    with serve_in_thread(app) as base_url, Client(base_url, secret) as client:
        lag = client.ingest_lag()
        first = client.parked_events(limit=2)
        assert first.next_before_id is not None
        rest = client.parked_events(limit=2, before_id=first.next_before_id)
        with pytest.raises(InvalidRequest):
            client.parked_events(limit=0)
    assert lag == IngestLag(STREAM, True, 2, (), 3, False)
    assert [item.idempotency_key for item in first.items] == ["p2", "p1"]
    assert [item.idempotency_key for item in rest.items] == ["p0"]
    assert rest.next_before_id is None
    # The kit lists the same values from its database.
    assert kit.parked_events(limit=2) == first
    assert kit.parked_events(limit=2, before_id=first.next_before_id) == rest
    [oldest] = rest.items
    assert (oldest.reason, oldest.action, oldest.customer) == (
        "insufficient_credits",
        "chat_message",
        "u1",
    )
    assert oldest.event_json == (
        '{"action":"chat_message","customer":"u1","idempotency_key":"p0","quantity":5}'
    )


def test_without_a_stream_the_lag_is_refused_by_kit_and_client_alike(kit: CreditKit) -> None:
    secret = kit.keys.create_key("operator", Scope.ADMIN).secret
    with pytest.raises(EventsNotConfigured):
        kit.ingest_lag()
    with pytest.raises(InvalidRequest) as refused:
        kit.parked_events(limit=501)
    assert refused.value.field == "limit"
    with serve_in_thread(create_app(kit)) as base_url, Client(base_url, secret) as client:
        with pytest.raises(EventsNotConfigured):
            client.ingest_lag()
        assert client.parked_events().items == ()
