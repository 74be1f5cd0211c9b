"""The event log, webhook endpoints and their deliveries, and alert thresholds over HTTP equal
the embedded kit's."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from client_helpers import assert_same_error, raised

from creditkit import CreditKit
from creditkit.client import Client
from creditkit.notify.errors import WebhookEndpointNotFound
from creditkit.notify.schemas import AlertSource, DeliveryStatus, EventType


@pytest.fixture
def closed_port_url() -> Iterator[str]:
    """A URL on this machine where nothing listens: a delivery to it is refused at once."""
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{bound.getsockname()[1]}/hooks"


def test_alerts_are_set_read_and_cleared_as_on_the_kit(client: Client, kit: CreditKit) -> None:
    client.create_customer("ada")
    assert client.alerts("ada") == kit.alerts("ada")
    assert client.alerts("ada").source is AlertSource.NONE
    own = client.set_alerts("ada", credits_left=90, percent_used=[50, 100])
    assert own == kit.alerts("ada")
    assert (own.credits_left, own.percent_used, own.source) == (90, (50, 100), AlertSource.CUSTOMER)
    dollars = client.set_alerts("ada", unit="usd", credits_left="0.50")
    assert dollars == kit.alerts("ada", unit="usd")
    assert client.clear_alerts("ada", unit="usd") == kit.alerts("ada", unit="usd")
    assert client.alerts("ada") == own


def test_the_event_log_equals_the_kits(client: Client, kit: CreditKit) -> None:
    client.create_customer("ada")
    client.create_customer("bob")
    client.set_alerts("ada", credits_left=90)
    client.charge("ada", 15)
    client.charge("bob", 100)
    assert client.events() == kit.events()
    low = client.events(customer="ada", type=EventType.CREDITS_LOW)
    assert low == kit.events(customer="ada", type="credits.low")
    assert [(event.type, event.customer) for event in low] == [(EventType.CREDITS_LOW, "ada")]
    first, *rest = client.events()
    assert client.events(after_id=first.id, limit=1) == rest[:1]


def test_webhook_endpoints_and_deliveries_equal_the_kits(
    client: Client, kit: CreditKit, closed_port_url: str
) -> None:
    registered = client.register_webhook_endpoint(
        closed_port_url, idempotency_key="hook-1", event_types=[EventType.CREDITS_DEPLETED]
    )
    assert registered == kit.register_webhook_endpoint(
        closed_port_url, idempotency_key="hook-1", event_types=[EventType.CREDITS_DEPLETED]
    )
    assert registered.secret
    endpoint = registered.endpoint
    assert endpoint.event_types == (EventType.CREDITS_DEPLETED,)
    assert client.webhook_endpoints() == kit.webhook_endpoints() == [endpoint]
    assert client.webhook_endpoint(endpoint.id) == endpoint
    rotated = client.rotate_webhook_secret(endpoint.id, idempotency_key="rotate-1")
    assert rotated == kit.rotate_webhook_secret(endpoint.id, idempotency_key="rotate-1")
    assert rotated.secret != registered.secret
    assert rotated.endpoint.previous_secret_expires_at is not None
    endpoint = rotated.endpoint

    client.create_customer("ada")
    client.charge("ada", 100)
    with kit.worker() as worker:
        worker.run_once()
    deliveries = client.webhook_deliveries(endpoint_id=endpoint.id)
    assert deliveries == kit.webhook_deliveries(endpoint_id=endpoint.id)
    (delivery,) = deliveries
    assert delivery.status is DeliveryStatus.PENDING and delivery.last_error
    assert client.webhook_deliveries(status="delivered") == []

    disabled = client.disable_webhook_endpoint(endpoint.id)
    assert disabled == kit.webhook_endpoint(endpoint.id) and not disabled.enabled
    assert client.enable_webhook_endpoint(endpoint.id).enabled
    client.delete_webhook_endpoint(endpoint.id)
    assert client.webhook_endpoints() == []
    gone = raised(lambda: client.webhook_endpoint(endpoint.id))
    assert isinstance(gone, WebhookEndpointNotFound)
    assert_same_error(gone, raised(lambda: kit.webhook_endpoint(endpoint.id)))
