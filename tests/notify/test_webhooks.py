"""Webhook endpoints and deliveries, against a real HTTP receiver: signed, retried with backoff,
given up after the last attempt; one delivery per event and endpoint."""

from __future__ import annotations

import json
import random
from datetime import timedelta
from typing import Any

import pytest
from notify_helpers import Receiver

from creditkit import CreditKit, IdempotencyConflict, InvalidRequest, ManualClock
from creditkit.notify import (
    ID_HEADER,
    DeliveryStatus,
    EventType,
    WebhookEndpointNotFound,
    verify_signature,
)
from creditkit.notify.webhooks import ATTEMPTS_MAX, LEASE_SECONDS, retry_delay_seconds


def low_balance(kit: CreditKit, customer: str) -> None:
    """Makes one credits.low event (free plan: 20 credits, warned at 5) for a customer made
    before any endpoint (``customers_first``)."""
    kit.create_customer(customer)
    kit.charge(customer, 15, idempotency_key=f"{customer}-low")


def customers_first(kit: CreditKit, *customers: str) -> None:
    """Creates the customers and fans their creation events (customer.created, the
    allowance's credits.granted) out before any endpoint exists: the tests below count the
    deliveries of what follows."""
    for customer in customers:
        kit.create_customer(customer)
    with kit.worker() as worker:
        worker.run_once()


def test_registering_shows_the_secret_once_and_replays(kit: CreditKit) -> None:
    first = kit.register_webhook_endpoint(
        "https://example.com/hooks", idempotency_key="e1", event_types=["credits.low"]
    )
    assert first.secret.startswith("whsec_") and len(first.secret) == 50
    assert first.endpoint.event_types == (EventType.CREDITS_LOW,)
    again = kit.register_webhook_endpoint(
        "https://example.com/hooks", idempotency_key="e1", event_types=[EventType.CREDITS_LOW]
    )
    assert again == first
    with pytest.raises(IdempotencyConflict) as conflict:
        kit.register_webhook_endpoint("https://example.com/other", idempotency_key="e1")
    assert conflict.value.field == "url"
    assert kit.webhook_endpoints() == [first.endpoint]
    assert not hasattr(kit.webhook_endpoints()[0], "secret")


@pytest.mark.parametrize(
    ("url", "event_types", "field"),
    [
        ("ftp://example.com", None, "url"),
        ("https://", None, "url"),
        ("https://example.com/" + "a" * 2048, None, "url"),
        ("https://example.com", [], "event_types"),
        ("https://example.com", ["credits.lo"], "event_types"),
        ("https://example.com", "credits.low", "event_types"),
    ],
)
def test_bad_endpoints_are_refused(kit: CreditKit, url: str, event_types: Any, field: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        kit.register_webhook_endpoint(url, idempotency_key="e1", event_types=event_types)
    assert refused.value.field == field
    assert kit.webhook_endpoints() == []


def test_a_delivery_is_signed_and_carries_the_event_id(
    kit: CreditKit, receiver: Receiver, start_clock: ManualClock
) -> None:
    customers_first(kit, "ada")
    registered = kit.register_webhook_endpoint(receiver.url, idempotency_key="e1")
    low_balance(kit, "ada")
    with kit.worker() as worker:
        report = worker.run_once()
    assert (report.events_fanned_out, report.deliveries_delivered) == (1, 1)
    [request] = receiver.received
    [event] = kit.events(type="credits.low")
    verify_signature(request.body, request.headers, registered.secret, now=start_clock())
    assert request.headers[ID_HEADER] == event.event_id
    body = json.loads(request.body)
    assert body == {
        "id": event.event_id,
        "type": "credits.low",
        "created_at": "2026-01-15T10:00:00+00:00",
        "customer": "ada",
        "data": event.data,
    }
    [delivery] = kit.webhook_deliveries()
    assert delivery.status is DeliveryStatus.DELIVERED
    assert (delivery.attempts, delivery.last_status_code) == (1, 200)
    assert delivery.delivered_at == start_clock()


def test_endpoints_get_only_their_event_types(kit: CreditKit, receiver: Receiver) -> None:
    customers_first(kit, "ada")
    lows = kit.register_webhook_endpoint(
        receiver.url + "/low", idempotency_key="e1", event_types=["credits.low"]
    )
    every = kit.register_webhook_endpoint(receiver.url + "/all", idempotency_key="e2")
    low_balance(kit, "ada")
    kit.charge("ada", 5, idempotency_key="empty")  # credits.depleted
    with kit.worker() as worker:
        assert worker.run_once().deliveries_delivered == 3
    assert sorted(request.path for request in receiver.received) == [
        "/hooks/all",
        "/hooks/all",
        "/hooks/low",
    ]
    assert len(kit.webhook_deliveries(endpoint_id=lows.endpoint.id)) == 1
    assert len(kit.webhook_deliveries(endpoint_id=every.endpoint.id)) == 2


def test_failures_back_off_exponentially_then_give_up(
    kit: CreditKit, receiver: Receiver, start_clock: ManualClock
) -> None:
    customers_first(kit, "ada")
    kit.register_webhook_endpoint(receiver.url, idempotency_key="e1")
    low_balance(kit, "ada")
    receiver.statuses = [500] * ATTEMPTS_MAX
    waits: list[timedelta] = []
    with kit.worker(rng=random.Random(7)) as worker:
        for attempt in range(1, ATTEMPTS_MAX + 1):
            report = worker.run_once()
            [delivery] = kit.webhook_deliveries()
            assert delivery.attempts == attempt and delivery.last_error == "HTTP 500"
            if attempt == ATTEMPTS_MAX:
                assert report.deliveries_failed == 1
                break
            assert report.deliveries_retried == 1
            assert delivery.next_attempt_at is not None
            waits.append(delivery.next_attempt_at - start_clock())
            assert worker.run_once().deliveries_retried == 0  # not due yet
            start_clock.set(delivery.next_attempt_at)
    assert delivery.status is DeliveryStatus.FAILED and delivery.next_attempt_at is None
    assert len(receiver.received) == ATTEMPTS_MAX
    for attempt, wait in enumerate(waits, start=1):
        nominal = 120 * 2 ** (attempt - 1)
        assert nominal * 0.9 <= wait.total_seconds() <= nominal * 1.1
    assert timedelta(days=2.5) < sum(waits, timedelta()) < timedelta(days=3.2)


def test_the_retry_delay_doubles_with_bounded_jitter() -> None:
    rng = random.Random(1)
    for attempt in range(1, ATTEMPTS_MAX):
        delays = {retry_delay_seconds(attempt, rng) for _ in range(50)}
        nominal = 120 << (attempt - 1)
        assert len(delays) > 1  # jittered
        assert all(nominal * 9 // 10 <= delay <= nominal * 11 // 10 for delay in delays)


def test_an_unreachable_endpoint_is_retried(kit: CreditKit, start_clock: ManualClock) -> None:
    customers_first(kit, "ada")
    kit.register_webhook_endpoint("http://127.0.0.1:9/closed", idempotency_key="e1")
    low_balance(kit, "ada")
    with kit.worker() as worker:
        assert worker.run_once().deliveries_retried == 1
    [delivery] = kit.webhook_deliveries(status="pending")
    assert delivery.last_error == "connect_failed"  # a category, not the socket's words
    assert delivery.last_status_code is None


def test_a_disabled_endpoint_waits_and_a_deleted_one_gives_up(
    kit: CreditKit, receiver: Receiver
) -> None:
    customers_first(kit, "ada")
    paused = kit.register_webhook_endpoint(receiver.url + "/paused", idempotency_key="e1")
    gone = kit.register_webhook_endpoint(receiver.url + "/gone", idempotency_key="e2")
    low_balance(kit, "ada")
    assert kit._webhooks.fan_out() == (1, False)  # owed to both
    assert not kit.disable_webhook_endpoint(paused.endpoint.id).enabled
    kit.disable_webhook_endpoint(gone.endpoint.id)
    kit.charge("ada", 5, idempotency_key="empty")  # while disabled: owed to neither
    with kit.worker() as worker:
        assert worker.run_once().events_fanned_out == 1
        assert receiver.received == []
        kit.delete_webhook_endpoint(gone.endpoint.id)
        assert kit.enable_webhook_endpoint(paused.endpoint.id).enabled
        assert worker.run_once().deliveries_delivered == 1
    assert [request.path for request in receiver.received] == ["/hooks/paused"]
    assert json.loads(receiver.received[0].body)["type"] == "credits.low"
    [failed] = kit.webhook_deliveries(status="failed")
    assert failed.last_error == "the endpoint was deleted"
    assert kit.webhook_endpoints() == [kit.webhook_endpoint(paused.endpoint.id)]
    with pytest.raises(WebhookEndpointNotFound):
        kit.webhook_endpoint(gone.endpoint.id)
    with pytest.raises(WebhookEndpointNotFound):
        kit.delete_webhook_endpoint(gone.endpoint.id)


def test_a_lease_that_runs_out_is_tried_again(
    kit: CreditKit, receiver: Receiver, start_clock: ManualClock
) -> None:
    """A worker that died mid-attempt: its lease runs out and another worker tries again."""
    customers_first(kit, "ada")
    kit.register_webhook_endpoint(receiver.url, idempotency_key="e1")
    low_balance(kit, "ada")
    with kit.worker() as worker:
        worker.run_once()  # fanned out and delivered
        kit.charge("ada", 5, idempotency_key="empty")
        kit._webhooks.fan_out()
        [abandoned] = kit._webhooks.claim()  # leased by a worker that then dies
        assert worker.run_once().deliveries_delivered == 0  # leased: nobody else tries it
        start_clock.advance(seconds=LEASE_SECONDS)
        assert worker.run_once().deliveries_delivered == 1
        # The dead worker's late answer cannot overwrite the newer attempt's.
        assert kit._webhooks.attempt(worker._client, abandoned, random.Random()) is None
    delivery = kit.webhook_deliveries(status="delivered")[-1]
    assert delivery.attempts == 2


def test_events_page_in_id_order(kit: CreditKit) -> None:
    low_balance(kit, "ada")
    low_balance(kit, "bob")
    everything = kit.events(type=EventType.CREDITS_LOW)
    assert [event.customer for event in everything] == ["ada", "bob"]
    assert kit.events(after_id=everything[0].id, type=EventType.CREDITS_LOW) == everything[1:]
    assert kit.events(customer="bob", type=EventType.CREDITS_LOW) == everything[1:]
    assert kit.events(type=EventType.CREDITS_DEPLETED) == []
    for options, field in (
        ({"limit": 0}, "limit"),
        ({"limit": 501}, "limit"),
        ({"after_id": -1}, "after_id"),
        ({"type": "credits.lower"}, "type"),
    ):
        with pytest.raises(InvalidRequest) as refused:
            kit.events(**options)
        assert refused.value.field == field
