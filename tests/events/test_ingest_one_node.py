"""``POST /v1/events`` through a one-node JetStream (started here, on loopback): 202 once the
stream acknowledged, each event charged once by the ingest workers whatever is published twice,
what cannot be charged parked with its reason and announced by ``event.refused``, and 503 with
Retry-After when the stream does not answer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from events_helpers import charged_keys, running, wait_until
from fastapi.testclient import TestClient

from creditkit import CreditKit, ManualClock
from creditkit.cli import main
from creditkit.events.nodes import LocalNodes
from creditkit.events.publisher import EventPublisher
from creditkit.events.repository import ParkedCount, parked
from creditkit.events.worker import IngestWorker
from creditkit.keys.schemas import Scope
from creditkit.notify.schemas import EventType
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


def _headers(kit: CreditKit, key: str) -> dict[str, str]:
    secret = kit.keys.create_key(f"test-{key}", Scope.ADMIN).secret
    return {"Authorization": f"Bearer {secret}", "Idempotency-Key": key}


def _event(key: str, customer: str = "u1", action: str = "chat_message", **more: Any) -> Any:
    return {
        "customer": customer,
        "action": action,
        "idempotency_key": key,
        "metadata": {"key": key},
        **more,
    }


def test_published_events_are_charged_once_and_refusals_parked(
    kit: CreditKit, nodes: LocalNodes
) -> None:
    kit.create_customer("u1")  # the free plan's 100 credits
    events = [_event(f"e{n}") for n in range(20)] + [
        _event("ghost-1", customer="ghost"),
        _event("big-1", action="image_generation", quantity=1_000),
        _event("teleport-1", action="teleport"),
    ]
    app = create_app(kit, events=EventPublisher(nodes.urls))
    with TestClient(app, raise_server_exceptions=False) as client:
        first = client.post("/v1/events", json={"events": events}, headers=_headers(kit, "b1"))
        assert first.status_code == 202, first.text
        assert first.json()["results"][0] == {"status": 202, "idempotency_key": "e0"}
        # Nothing is charged until a worker takes the events.
        assert kit.balance("u1").available == 100
        # The publisher retries (another batch key, the same events): charged once all the same.
        again = client.post("/v1/events", json={"events": events}, headers=_headers(kit, "b2"))
        assert again.status_code == 202, again.text
        workers = [IngestWorker(kit, nodes.urls, batch_max=7), IngestWorker(kit, nodes.urls)]
        with running(workers):
            wait_until(lambda: len(parked(kit.database)) == 3, "the refusals parked")
            wait_until(lambda: sum(charged_keys(kit, "u1").values()) == 20, "20 charges")
            # Acknowledged after the commit: the consumer's count follows the charges.
            wait_until(lambda: workers[0].lag().unacknowledged == 0, "all acknowledged")
            lag = workers[0].lag()
    assert charged_keys(kit, "u1") == {f"e{n}": 1 for n in range(20)}
    assert kit.balance("u1").available == 80
    reasons = {event.idempotency_key: event.reason for event in parked(kit.database)}
    assert reasons == {
        "ghost-1": "unknown_customer",
        "big-1": "insufficient_credits",
        "teleport-1": "unknown_action",
    }
    assert (lag.pending, lag.unacknowledged, lag.parked) == (0, 0, ParkedCount(3, False))
    refused = [e for e in kit.events(customer="u1") if e.type is EventType.EVENT_REFUSED]
    announced = {e.data["idempotency_key"]: (e.data["reason"], e.data["action"]) for e in refused}
    assert announced == {
        "big-1": ("insufficient_credits", "image_generation"),
        "teleport-1": ("unknown_action", "teleport"),
    }
    assert kit.audit().ok


def test_events_answer_503_with_retry_after_when_the_stream_does_not_acknowledge(
    kit: CreditKit, nodes: LocalNodes
) -> None:
    kit.create_customer("u1")
    app = create_app(kit, events=EventPublisher(nodes.urls, timeout_seconds=0.5))
    with TestClient(app, raise_server_exceptions=False) as client:
        ok = client.post("/v1/events", json={"events": [_event("a")]}, headers=_headers(kit, "1"))
        assert ok.status_code == 202, ok.text
        nodes.stop()
        down = client.post("/v1/events", json={"events": [_event("b")]}, headers=_headers(kit, "2"))
    assert down.status_code == 503, down.text
    assert down.headers["content-type"] == "application/problem+json"
    assert down.headers["Retry-After"] == "1"
    assert down.json()["code"] == "events_unavailable"


def test_without_events_the_synchronous_path_charges_at_once(kit: CreditKit) -> None:
    kit.create_customer("u1")
    with TestClient(create_app(kit), raise_server_exceptions=False) as client:
        answer = client.post(
            "/v1/events", json={"events": [_event("a")]}, headers=_headers(kit, "1")
        )
    assert answer.status_code == 200, answer.text
    assert answer.json()["results"][0]["status"] == 201
    assert kit.balance("u1").available == 99


def test_the_ingest_worker_prints_its_lag(
    nodes: LocalNodes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with CreditKit(url, catalog=example_catalog()) as kit:
        kit.create_customer("u1")
        app = create_app(kit, events=EventPublisher(nodes.urls))
        with TestClient(app, raise_server_exceptions=False) as client:
            events = [_event("a"), _event("b")]
            sent = client.post("/v1/events", json={"events": events}, headers=_headers(kit, "1"))
            assert sent.status_code == 202, sent.text
    assert main(["ingest-worker", "--lag", "--database-url", url, "--events", nodes.setting]) == 0
    # One request's two events: one message.
    assert capsys.readouterr().out == (
        "no consumer yet: 1 messages (of 1 to 1000 events) in CREDITKIT_EVENTS wait for an"
        " ingest-worker\nparked 0\n"
    )
