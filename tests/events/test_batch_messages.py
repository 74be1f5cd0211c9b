"""A request's events as few JetStream messages: how they are chunked (bounded in events and
bytes, the same chunks and ``Nats-Msg-Id`` for the same events), how a worker reads them back,
and, on a one-node JetStream started here, a retried or re-chunked publish charged once and a
message whose id its events do not give parked, never charged."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from events_helpers import charged_keys, running, wait_until
from fastapi.testclient import TestClient

from creditkit import CreditKit, ManualClock
from creditkit.errors import InvalidRequest
from creditkit.events.lag import read_lag
from creditkit.events.messages import (
    CHUNK_ID_PREFIX,
    EVENT_BYTES_MAX,
    EVENTS_PER_MESSAGE_MAX,
    HEADER_BYTES_MAX,
    MESSAGE_BYTES_MAX,
    Unreadable,
    chunk_id,
    chunks,
    decoded,
    message_bytes_max,
)
from creditkit.events.nodes import LocalNodes
from creditkit.events.publisher import EventPublisher
from creditkit.events.repository import parked
from creditkit.events.running import run_to_end
from creditkit.events.stream import STREAM, SUBJECT
from creditkit.events.worker import IngestWorker
from creditkit.keys.schemas import Scope
from creditkit.server import create_app
from creditkit.server.serve import example_catalog


def _event(key: str, customer: str = "u1", **more: Any) -> dict[str, Any]:
    # metadata["key"]: what charged_keys reads back from each charge.
    return {
        "customer": customer,
        "action": "chat_message",
        "idempotency_key": key,
        "metadata": {"key": key},
        **more,
    }


def test_a_requests_events_go_as_one_message_with_an_id_from_their_keys() -> None:
    events = [_event(f"k{n}") for n in range(5)]
    [chunk] = chunks(events, MESSAGE_BYTES_MAX)
    assert chunk.events == 5
    assert chunk.message_id == chunk_id([f"k{n}" for n in range(5)])
    assert chunk.message_id.startswith(CHUNK_ID_PREFIX)
    # The same events, the same message (a retried publish is dropped by JetStream); another
    # order or another set of keys, another id.
    assert chunks(events, MESSAGE_BYTES_MAX) == [chunk]
    assert chunks(events[::-1], MESSAGE_BYTES_MAX)[0].message_id != chunk.message_id
    assert chunks(events[:4], MESSAGE_BYTES_MAX)[0].message_id != chunk.message_id
    assert decoded(chunk.message_id, chunk.body) == events
    # One event alone goes as before: the event itself, its key the id.
    [alone] = chunks(events[:1], MESSAGE_BYTES_MAX)
    assert (alone.message_id, json.loads(alone.body)) == ("k0", events[0])
    assert decoded("k0", alone.body) == [events[0]]


def test_chunks_are_bounded_in_events_and_in_bytes() -> None:
    many = [_event(f"k{n}") for n in range(EVENTS_PER_MESSAGE_MAX + 1)]
    assert [chunk.events for chunk in chunks(many, MESSAGE_BYTES_MAX)] == [
        EVENTS_PER_MESSAGE_MAX,
        1,
    ]
    heavy = [_event(f"h{n}", metadata={"note": "x" * 10_000}) for n in range(60)]
    found = chunks(heavy, MESSAGE_BYTES_MAX)
    assert all(len(chunk.body) <= MESSAGE_BYTES_MAX for chunk in found)
    assert sum(chunk.events for chunk in found) == 60
    assert len(found) == 3  # 25 events of about 10 kB fit 256 KiB
    assert [event for chunk in found for event in decoded(chunk.message_id, chunk.body)] == heavy


def test_an_event_larger_than_a_message_is_refused_before_anything_is_published() -> None:
    events = [_event("small"), _event("huge", metadata={"note": "x" * MESSAGE_BYTES_MAX})]
    with pytest.raises(InvalidRequest) as refused:
        chunks(events, MESSAGE_BYTES_MAX)
    assert refused.value.field == "events[1]"
    assert "bytes" in str(refused.value)


def test_a_server_whose_max_payload_cannot_hold_an_event_is_refused() -> None:
    assert message_bytes_max(1024 * 1024) == MESSAGE_BYTES_MAX
    smaller = EVENT_BYTES_MAX + HEADER_BYTES_MAX
    assert message_bytes_max(smaller) == EVENT_BYTES_MAX
    with pytest.raises(InvalidRequest) as refused:
        message_bytes_max(smaller - 1)
    assert "max_payload" in str(refused.value)


def test_a_message_whose_id_its_events_do_not_give_cannot_be_read() -> None:
    [chunk] = chunks([_event("a"), _event("b")], MESSAGE_BYTES_MAX)
    assert isinstance(decoded("events:forged", chunk.body), Unreadable)
    assert isinstance(decoded("a", json.dumps(_event("b")).encode()), Unreadable)
    assert isinstance(decoded("x", b"[1, 2]"), Unreadable)
    assert isinstance(decoded("x", b"{not json"), Unreadable)
    one = json.dumps({"events": [_event("a")]}).encode()
    assert isinstance(decoded(chunk_id(["a"]), one), Unreadable)  # one event goes bare


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[LocalNodes]:
    with LocalNodes(tmp_path / "nats", 1) as started:
        yield started


@pytest.fixture
def kit(database_url: str, clock: ManualClock) -> Iterator[CreditKit]:
    with CreditKit(database_url, catalog=example_catalog(), clock=clock) as opened:
        yield opened


async def _publish(nodes: LocalNodes, batches: list[list[dict[str, Any]]]) -> None:
    publisher = EventPublisher(nodes.urls)
    try:
        for events in batches:
            await publisher.publish(events)
    finally:
        await publisher.close()


async def _publish_raw(nodes: LocalNodes, message_id: str, body: bytes) -> None:
    connection = await nats.connect(servers=list(nodes.urls))
    try:
        js = connection.jetstream()
        await js.publish(SUBJECT, body, stream=STREAM, headers={"Nats-Msg-Id": message_id})
    finally:
        await connection.close()


def test_a_retried_or_rechunked_publish_is_charged_once(kit: CreditKit, nodes: LocalNodes) -> None:
    kit.create_customer("u1")  # the free plan's 100 credits
    events = [_event(f"e{n}") for n in range(12)]
    # The same chunk twice (a retried request): JetStream keeps one message. The same events
    # chunked otherwise (a client that split its retry) pass JetStream's dedupe as new
    # messages: the ledger's keys charge each event once all the same.
    run_to_end(_publish(nodes, [events, events, events[:5], events[5:]]))
    assert run_to_end(read_lag(nodes.urls, kit.now())).events == 3
    # A message whose events do not give its id (written by something else): parked, whole.
    [forged] = chunks([_event("f1"), _event("f2")], MESSAGE_BYTES_MAX)
    run_to_end(_publish_raw(nodes, "events:forged", forged.body))
    worker = IngestWorker(kit, nodes.urls, batch_max=4)
    with running([worker]):
        wait_until(lambda: len(parked(kit.database)) == 1, "the forged message parked")
        wait_until(lambda: sum(charged_keys(kit, "u1").values()) >= 12, "12 charges")
        wait_until(lambda: worker.lag().unacknowledged == 0, "all acknowledged")
        lag = worker.lag()
    assert charged_keys(kit, "u1") == {f"e{n}": 1 for n in range(12)}
    assert kit.balance("u1").available == 88
    [refused] = parked(kit.database)
    assert (refused.idempotency_key, refused.reason) == ("events:forged", "malformed_event")
    assert (lag.pending, lag.unacknowledged) == (0, 0)
    assert kit.audit().ok


def test_a_bad_event_in_a_chunk_is_parked_alone_and_the_rest_charged(
    kit: CreditKit, nodes: LocalNodes
) -> None:
    kit.create_customer("u1")
    events = [_event("a"), _event("ghost", customer="ghost"), _event("b")]
    events.append(_event("big", action="image_generation", quantity=1_000))
    run_to_end(_publish(nodes, [events]))
    assert run_to_end(read_lag(nodes.urls, kit.now())).events == 1
    worker = IngestWorker(kit, nodes.urls)
    with running([worker]):
        wait_until(lambda: len(parked(kit.database)) == 2, "the two refusals parked")
        wait_until(lambda: worker.lag().unacknowledged == 0, "the message acknowledged")
    assert charged_keys(kit, "u1") == {"a": 1, "b": 1}
    reasons = {event.idempotency_key: event.reason for event in parked(kit.database)}
    assert reasons == {"ghost": "unknown_customer", "big": "insufficient_credits"}
    assert worker.charged == 2
    assert kit.audit().ok


def test_a_request_with_an_event_too_large_for_a_message_publishes_nothing(
    kit: CreditKit, nodes: LocalNodes
) -> None:
    kit.create_customer("u1")
    secret = kit.keys.create_key("publisher", Scope.CHARGE).secret
    headers = {"Authorization": f"Bearer {secret}", "Idempotency-Key": "too-large"}
    events = [_event("fine"), _event("huge", metadata={"note": "x" * MESSAGE_BYTES_MAX})]
    app = create_app(kit, events=EventPublisher(nodes.urls))
    with TestClient(app, raise_server_exceptions=False) as client:
        refused = client.post("/v1/events", json={"events": events}, headers=headers)
    assert refused.status_code in {400, 422}, refused.text
    assert "events[1]" in refused.text
    assert run_to_end(read_lag(nodes.urls, kit.now())).events == 0
