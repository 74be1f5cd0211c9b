"""The operator's reads of the events stream: the workers' lag from JetStream (``GET
/v1/ingest/lag``, ``creditkit ingest-worker --lag``) and the parked events (``GET
/v1/ingest/parked-events``, ``creditkit parked-events``), each with its refusals."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import nats
import pytest
from fastapi.testclient import TestClient

from creditkit import CreditKit, ManualClock
from creditkit.cli import main
from creditkit.events.command import lag_lines
from creditkit.events.lag import StreamLag, read_lag
from creditkit.events.nodes import LocalNodes, _free_port
from creditkit.events.publisher import EventPublisher
from creditkit.events.repository import (
    PARKED_COUNT_MAX,
    ParkedCount,
    ParkedEvent,
    park,
    parked_count,
)
from creditkit.events.running import run_to_end
from creditkit.events.stream import CONSUMER, STREAM, SUBJECT, consumer_config
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


def _auth(kit: CreditKit, scope: Scope = Scope.ADMIN) -> dict[str, str]:
    secret = kit.keys.create_key(f"operator-{scope.value}", scope).secret
    return {"Authorization": f"Bearer {secret}"}


def _event(key: str, customer: str = "u1") -> dict[str, Any]:
    return {"customer": customer, "action": "chat_message", "idempotency_key": key}


def _publish(kit: CreditKit, client: TestClient, keys: list[str]) -> None:
    """Each key by a request of its own: one message each (a request's events go as one)."""
    for key in keys:
        headers = {**_auth(kit), "Idempotency-Key": f"batch-{key}"}
        sent = client.post("/v1/events", json={"events": [_event(key)]}, headers=headers)
        assert sent.status_code == 202, sent.text


async def _take_one_unacknowledged(nodes: LocalNodes, acknowledge: bool) -> str:
    """The consumer made (as a worker would), one event fetched and, if told, acknowledged."""
    connection = await nats.connect(servers=list(nodes.urls))
    try:
        js = connection.jetstream()
        subscription = await js.pull_subscribe(
            SUBJECT, durable=CONSUMER, stream=STREAM, config=consumer_config()
        )
        [message] = await subscription.fetch(1, timeout=5)
        if acknowledge:
            await message.ack_sync()
        return str((message.headers or {})["Nats-Msg-Id"])
    finally:
        await connection.close()


def test_the_lag_counts_pending_and_unacknowledged_and_ages_the_oldest(
    kit: CreditKit, nodes: LocalNodes
) -> None:
    kit.create_customer("u1")
    app = create_app(kit, events=EventPublisher(nodes.urls))
    with TestClient(app, raise_server_exceptions=False) as client:
        _publish(kit, client, ["a", "b", "c"])
        before = client.get("/v1/ingest/lag", headers=_auth(kit))
        assert before.status_code == 200, before.text
        assert before.json() == {
            "stream": STREAM,
            "stream_exists": True,
            "events": 3,
            "consumers": [],
            "parked": 0,
            "parked_capped": False,
        }
        # A worker took "a" and has not acknowledged it yet: it is the oldest.
        assert run_to_end(_take_one_unacknowledged(nodes, acknowledge=False)) == "a"
        taken = client.get("/v1/ingest/lag", headers=_auth(kit)).json()
        # "b" acknowledged (charged): the oldest not acknowledged is still "a", sequence 1.
        assert run_to_end(_take_one_unacknowledged(nodes, acknowledge=True)) == "b"
        after = client.get("/v1/ingest/lag", headers=_auth(kit)).json()
    [consumer] = taken["consumers"]
    assert {k: v for k, v in consumer.items() if k != "oldest_unacknowledged"} == {
        "consumer": CONSUMER,
        "pending": 2,
        "unacknowledged": 1,
        "redelivered": 0,
        "waiting": 0,
    }
    assert consumer["oldest_unacknowledged"]["sequence"] == 1
    [consumer] = after["consumers"]
    assert (consumer["pending"], consumer["unacknowledged"]) == (1, 1)
    assert consumer["oldest_unacknowledged"]["sequence"] == 1
    assert after["events"] == 2  # the work queue dropped "b" once acknowledged


def test_the_oldest_events_age_is_counted_to_the_time_of_the_read(nodes: LocalNodes) -> None:
    run_to_end(_publish_direct(nodes, ["x", "y"]))
    run_to_end(_take_one_unacknowledged(nodes, acknowledge=True))
    first = run_to_end(read_lag(nodes.urls, ManualClock()()))
    stored_at = _oldest(first).stored_at
    later = run_to_end(read_lag(nodes.urls, stored_at + timedelta(seconds=42, milliseconds=700)))
    assert (_oldest(later).sequence, _oldest(later).age_seconds) == (2, 42)
    # A clock behind the server's reads as no age, not a negative one.
    earlier = run_to_end(read_lag(nodes.urls, stored_at - timedelta(seconds=5)))
    assert _oldest(earlier).age_seconds == 0


def _oldest(lag: StreamLag) -> Any:
    [consumer] = lag.consumers
    assert consumer.oldest is not None
    return consumer.oldest


async def _publish_direct(nodes: LocalNodes, keys: list[str]) -> None:
    publisher = EventPublisher(nodes.urls)
    try:
        for key in keys:  # one message each
            await publisher.publish([_event(key)])
    finally:
        await publisher.close()


def test_the_lag_needs_an_admin_key_and_an_events_stream(kit: CreditKit) -> None:
    with TestClient(create_app(kit), raise_server_exceptions=False) as client:
        anonymous = client.get("/v1/ingest/lag")
        reader = client.get("/v1/ingest/lag", headers=_auth(kit, Scope.READ))
        unconfigured = client.get("/v1/ingest/lag", headers=_auth(kit))
    assert anonymous.status_code == 401
    assert reader.status_code == 403
    assert reader.json()["code"] == "scope_insufficient"
    assert unconfigured.status_code == 404
    assert unconfigured.headers["content-type"] == "application/problem+json"
    assert unconfigured.json()["code"] == "events_not_configured"
    assert "--events" in unconfigured.json()["detail"]
    assert "CREDITKIT_EVENTS_URL" in unconfigured.json()["detail"]


def test_the_lag_answers_503_when_the_stream_does_not(kit: CreditKit, nodes: LocalNodes) -> None:
    app = create_app(kit, events=EventPublisher(nodes.urls, timeout_seconds=0.5))
    with TestClient(app, raise_server_exceptions=False) as client:
        nodes.stop()
        down = client.get("/v1/ingest/lag", headers=_auth(kit))
    assert down.status_code == 503, down.text
    assert down.headers["Retry-After"] == "1"
    assert down.json()["code"] == "events_unavailable"


def _park(kit: CreditKit, clock: ManualClock, count: int) -> None:
    for index in range(count):
        refused = ParkedEvent(
            f"p{index}", "u1", _event(f"p{index}"), "insufficient_credits", f"short by {index}"
        )
        park(kit.database, [refused], kit.now())
        clock.advance(seconds=1)


def test_parked_events_are_listed_newest_first_a_bounded_page_at_a_time(
    kit: CreditKit, clock: ManualClock
) -> None:
    kit.create_customer("u1")
    _park(kit, clock, 5)
    with TestClient(create_app(kit), raise_server_exceptions=False) as client:
        first = client.get("/v1/ingest/parked-events?limit=2", headers=_auth(kit)).json()
        pages = [first]
        while pages[-1]["next_before_id"] is not None and len(pages) < 5:
            cursor = pages[-1]["next_before_id"]
            page = client.get(
                f"/v1/ingest/parked-events?limit=2&before_id={cursor}", headers=_auth(kit)
            )
            pages.append(page.json())
        too_many = client.get("/v1/ingest/parked-events?limit=501", headers=_auth(kit))
        reader = client.get("/v1/ingest/parked-events", headers=_auth(kit, Scope.READ))
    keys = [item["idempotency_key"] for page in pages for item in page["items"]]
    assert keys == ["p4", "p3", "p2", "p1", "p0"]
    assert [len(page["items"]) for page in pages] == [2, 2, 1]
    newest = first["items"][0]
    assert newest["reason"] == "insufficient_credits"
    assert newest["detail"] == "short by 4"
    assert newest["customer"] == "u1"
    assert newest["action"] == "chat_message"
    assert json.loads(newest["event_json"]) == _event("p4")
    assert newest["parked_at"] > first["items"][1]["parked_at"]
    assert too_many.status_code == 422
    assert too_many.json()["invalid_params"][0]["name"] == "limit"
    assert reader.status_code == 403


def test_the_cli_prints_each_consumers_lag_and_the_parked_events(
    nodes: LocalNodes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    clock = ManualClock()
    with CreditKit(url, catalog=example_catalog(), clock=clock) as kit:
        kit.create_customer("u1")
        _park(kit, clock, 3)
    run_to_end(_publish_direct(nodes, ["a", "b"]))
    assert main(["ingest-worker", "--lag", "--database-url", url, "--events", nodes.setting]) == 0
    before = capsys.readouterr().out
    run_to_end(_take_one_unacknowledged(nodes, acknowledge=False))
    assert main(["ingest-worker", "--lag", "--database-url", url, "--events", nodes.setting]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert main(["parked-events", "--limit", "2", "--database-url", url]) == 0
    parked_lines = capsys.readouterr().out.splitlines()
    assert before == (
        f"no consumer yet: 2 messages (of 1 to 1000 events) in {STREAM} wait for an"
        " ingest-worker\nparked 3\n"
    )
    assert lines[0].startswith(
        f"{CONSUMER}: pending 1, unacknowledged 1, redelivered 0, waiting 0, oldest unacknowledged "
    )
    assert "(sequence 1, " in lines[0]
    assert lines[1:] == ["parked 3"]
    assert len(parked_lines) == 3
    assert parked_lines[0].split()[2:5] == ["p2", "u1", "insufficient_credits:"]
    assert parked_lines[1].split()[2] == "p1"
    assert parked_lines[2].startswith("older: creditkit parked-events --before-id ")


def test_the_cli_says_in_one_line_when_the_stream_does_not_answer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    nobody = f"nats://127.0.0.1:{_free_port()}"
    assert main(["ingest-worker", "--lag", "--database-url", url, "--events", nobody]) == 1
    error = capsys.readouterr().err
    assert error.startswith("creditkit: the events stream did not answer: no server answered")
    assert error.count("\n") == 1
    assert main(["parked-events", "--limit", "0", "--database-url", url]) == 1
    assert capsys.readouterr().err.startswith("creditkit: --limit: must be 1 to 500")


def test_a_publisher_whose_servers_are_all_down_answers_503_in_time(kit: CreditKit) -> None:
    nobody = (f"nats://127.0.0.1:{_free_port()}",)
    app = create_app(kit, events=EventPublisher(nobody, timeout_seconds=0.5))
    with TestClient(app, raise_server_exceptions=False) as client:
        lag = client.get("/v1/ingest/lag", headers=_auth(kit))
    assert lag.status_code == 503, lag.text
    assert lag.json()["code"] == "events_unavailable"


def test_the_parked_count_stops_at_its_bound_and_says_at_least(tmp_path: Path) -> None:
    clock = ManualClock()
    with CreditKit(f"sqlite:///{tmp_path / 'ledger.db'}", clock=clock) as kit:
        kit.create_customer("u1")
        _park(kit, clock, 3)
        exact = parked_count(kit.database, limit=3)
        capped = parked_count(kit.database, limit=2)
        by_default = parked_count(kit.database)
    assert exact == ParkedCount(3, False)
    assert capped == ParkedCount(2, True)
    assert by_default == ParkedCount(3, False) and PARKED_COUNT_MAX >= 3
    nothing = StreamLag(STREAM, False, 0, ())
    assert lag_lines(nothing, capped)[-1] == "parked at least 2"
    assert lag_lines(nothing, exact)[-1] == "parked 3"
