"""Delivered webhooks verify as Standard Webhooks with the receivers' own libraries: the
``standardwebhooks`` package in Python and the npm one under node, through a secret's rotation
(both secrets verify during the overlap, only the new one after it). The libraries check the
timestamp against the wall clock, so these kits' clocks start at the wall clock's time."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from notify_helpers import RECEIVERS_ON_THIS_MACHINE, Received, Receiver
from standard_webhooks_helpers import node_verifies, python_verifies

from creditkit import CreditKit, ManualClock
from creditkit.catalog import Catalog
from creditkit.notify import InvalidSignature, verify_signature
from creditkit.notify.webhooks import ROTATION_OVERLAP_SECONDS


@pytest.fixture
def now_clock() -> ManualClock:
    return ManualClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def now_kit(database_url: str, now_clock: ManualClock, catalog: Catalog) -> Iterator[CreditKit]:
    with CreditKit(
        database_url, catalog=catalog, clock=now_clock, webhook_policy=RECEIVERS_ON_THIS_MACHINE
    ) as opened:
        yield opened


def spend(kit: CreditKit, customer: str) -> None:
    """Two events: credits.low, then credits.depleted (free plan: 20 credits, warned at 5)."""
    kit.create_customer(customer)
    kit.charge(customer, 15, idempotency_key=f"{customer}-low")
    kit.charge(customer, 5, idempotency_key=f"{customer}-depleted")


def deliver(kit: CreditKit) -> None:
    with kit.worker() as worker:
        worker.run_once()


def test_deliveries_verify_with_the_python_and_npm_packages(
    now_kit: CreditKit, receiver: Receiver
) -> None:
    registered = now_kit.register_webhook_endpoint(receiver.url, idempotency_key="e1")
    spend(now_kit, "ada")
    deliver(now_kit)
    assert [json.loads(r.body)["type"] for r in receiver.received] == [
        "customer.created",
        "credits.granted",
        "credits.low",
        "credits.depleted",
    ]
    for request in receiver.received:
        assert python_verifies(request, registered.secret)
        assert request.headers["webhook-id"] == json.loads(request.body)["id"]
    results = node_verifies([(request, registered.secret) for request in receiver.received])
    assert [result["verified"] for result in results] == [True] * 4, results
    assert [result["payload"]["type"] for result in results] == [
        "customer.created",
        "credits.granted",
        "credits.low",
        "credits.depleted",
    ]


def test_a_tampered_delivery_or_another_secret_is_refused_by_both_packages(
    now_kit: CreditKit, receiver: Receiver
) -> None:
    registered = now_kit.register_webhook_endpoint(receiver.url, idempotency_key="e1")
    other = now_kit.register_webhook_endpoint(receiver.url + "/other", idempotency_key="e2")
    spend(now_kit, "ada")
    deliver(now_kit)
    [request, *_rest] = [r for r in receiver.received if r.path == "/hooks"]
    tampered = Received(request.path, request.headers, request.body.replace(b"ada", b"bob"))
    assert not python_verifies(tampered, registered.secret)
    assert not python_verifies(request, other.secret)
    results = node_verifies([(tampered, registered.secret), (request, other.secret)])
    assert [result["verified"] for result in results] == [False, False]


def test_during_a_rotation_either_secret_verifies_and_after_it_only_the_new_one(
    now_kit: CreditKit, now_clock: ManualClock, receiver: Receiver
) -> None:
    old = now_kit.register_webhook_endpoint(receiver.url, idempotency_key="e1")
    rotated = now_kit.rotate_webhook_secret(old.endpoint.id, idempotency_key="r1")
    assert rotated.secret != old.secret and rotated.secret.startswith("whsec_")
    assert rotated.endpoint.previous_secret_expires_at == now_clock() + timedelta(
        seconds=ROTATION_OVERLAP_SECONDS
    )
    spend(now_kit, "ada")
    deliver(now_kit)
    during = receiver.received[0]
    assert during.headers["webhook-signature"].count("v1,") == 2
    assert python_verifies(during, old.secret) and python_verifies(during, rotated.secret)
    results = node_verifies([(during, old.secret), (during, rotated.secret)])
    assert [result["verified"] for result in results] == [True, True], results

    now_clock.advance(seconds=ROTATION_OVERLAP_SECONDS)
    spend(now_kit, "bob")
    deliver(now_kit)
    after = receiver.received[-1]
    assert after.headers["webhook-signature"].count("v1,") == 1
    # The packages check against the wall clock, a day behind now: creditkit's own check
    # takes the kit's clock.
    verify_signature(after.body, after.headers, rotated.secret, now=now_clock())
    with pytest.raises(InvalidSignature, match="no signature matches"):
        verify_signature(after.body, after.headers, old.secret, now=now_clock())
