"""Webhook SSRF: every way of writing an address inside the operator's network is refused when
an endpoint is registered, and again when a delivery is tried (a name that resolved elsewhere
at registration, an endpoint registered under the development setting); the worker connects to
the address it checked, follows no redirect, and records a category, never socket text."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator, Sequence

import pytest
from notify_helpers import Receiver

from creditkit import CreditKit, InvalidRequest, ManualClock
from creditkit.catalog import Catalog
from creditkit.notify.outbound import OutboundPolicy

#: The attack's forms, all meaning this machine or the network around it, and more spellings.
REFUSED_HOSTS = [
    "127.0.0.1",
    "localhost",
    "127.1",
    "2130706433",
    "0x7f000001",
    "0177.0.0.1",
    "0.0.0.0",
    "[::1]",
    "[::]",
    "[::ffff:127.0.0.1]",
    "[::ffff:7f00:1]",
    "[64:ff9b::7f00:1]",
    "[2002:7f00:1::]",
    "169.254.169.254",
    "10.0.0.1",
    "172.16.0.1",
    "192.168.0.1",
    "100.64.0.1",
    "[fd00::1]",
    "[fe80::1]",
    "224.0.0.1",
    "[ff02::1]",
    "240.0.0.1",
    "metadata.google.internal",
    "db",
    "hooks.localhost",
    "rebound.example",  # a public-looking name that resolves to loopback
]


def resolver(answers: dict[str, list[str]]) -> OutboundPolicy:
    def resolve(host: str, _port: int) -> Sequence[str]:
        return answers.get(host, ["93.184.216.34"])

    return OutboundPolicy(resolver=resolve)


@pytest.fixture
def listener() -> Iterator[tuple[int, list[int]]]:
    """A TCP port on 127.0.0.1 counting the connections it is offered: any would be SSRF."""
    accepted: list[int] = []
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.05)
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, _address = server.accept()
            except TimeoutError:
                continue
            accepted.append(1)
            connection.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1], accepted
    stop.set()
    thread.join()
    server.close()


@pytest.mark.parametrize("host", REFUSED_HOSTS)
def test_registration_refuses_every_internal_address_form(database_url: str, host: str) -> None:
    policy = resolver({"rebound.example": ["127.0.0.1"]})
    with CreditKit(database_url, webhook_policy=policy) as kit:
        for url in (f"https://{host}/hooks", f"https://{host}:5432/hooks"):
            with pytest.raises(InvalidRequest) as refused:
                kit.register_webhook_endpoint(url, idempotency_key=url)
            assert refused.value.field == "url"
        assert kit.webhook_endpoints() == []


def test_plain_http_is_refused_by_default_and_a_public_https_name_accepted(
    database_url: str,
) -> None:
    with CreditKit(database_url, webhook_policy=resolver({})) as kit:
        with pytest.raises(InvalidRequest, match="https"):
            kit.register_webhook_endpoint("http://hooks.example/x", idempotency_key="a")
        with pytest.raises(InvalidRequest, match="user name"):
            kit.register_webhook_endpoint("https://u:p@hooks.example/x", idempotency_key="b")
        kit.register_webhook_endpoint("https://hooks.example/x", idempotency_key="c")


def test_the_default_policy_refuses_the_test_receivers(database_url: str) -> None:
    """The receivers the other tests deliver to (127.0.0.1 over http) need the setting."""
    with CreditKit(database_url) as kit, pytest.raises(InvalidRequest):
        kit.register_webhook_endpoint("http://127.0.0.1:8080/hooks", idempotency_key="e1")


def test_delivery_refuses_every_internal_address_form_without_connecting(
    database_url: str,
    catalog: Catalog,
    start_clock: ManualClock,
    listener: tuple[int, list[int]],
) -> None:
    """Endpoints written while the development setting was on, or whose name resolved
    elsewhere then, are checked again at delivery: nothing connects to the listener. (httpx
    itself refuses a URL with a leading-zero octet, so no endpoint can hold ``0177.0.0.1``.)"""
    port, accepted = listener
    hosts = [host for host in REFUSED_HOSTS if host != "0177.0.0.1"]
    answers = {"rebound.example": ["127.0.0.1"], "localhost": ["127.0.0.1"]}
    loose = OutboundPolicy(allow_private=True, resolver=resolver(answers).resolver)
    with CreditKit(database_url, catalog=catalog, clock=start_clock, webhook_policy=loose) as kit:
        urls = {}
        for host in hosts:
            registered = kit.register_webhook_endpoint(
                f"https://{host}:{port}/hooks", idempotency_key=host, event_types=["credits.low"]
            )
            urls[registered.endpoint.id] = host
        kit.create_customer("ada")
        kit.charge("ada", 15, idempotency_key="low")  # one credits.low event
    with (
        CreditKit(
            database_url, catalog=catalog, clock=start_clock, webhook_policy=resolver(answers)
        ) as kit,
        kit.worker() as worker,
    ):
        assert worker.run_once().deliveries_retried == len(hosts)
        deliveries = kit.webhook_deliveries(status="pending")
    assert sorted(urls[delivery.endpoint_id] for delivery in deliveries) == sorted(hosts)
    for delivery in deliveries:
        assert delivery.last_error is not None, urls[delivery.endpoint_id]
        category = delivery.last_error.split(":")[0]
        assert category in {"address_refused", "internal_name"}, urls[delivery.endpoint_id]
        assert delivery.last_status_code is None
    assert accepted == []


def _created_before_any_endpoint(kit: CreditKit, customer: str) -> None:
    """The customer and its creation's events (customer.created, credits.granted), fanned out
    while no endpoint exists: the one delivery the test then reads is its charge's alert."""
    kit.create_customer(customer)
    with kit.worker() as worker:
        worker.run_once()


def test_a_name_that_rebinds_to_loopback_after_registration_is_refused_at_delivery(
    database_url: str, catalog: Catalog, start_clock: ManualClock, receiver: Receiver
) -> None:
    port = receiver.url.split(":")[2].split("/")[0]
    answers = {"hooks.example": ["93.184.216.34"]}
    policy = OutboundPolicy(resolver=lambda host, _port: answers[host])
    with CreditKit(database_url, catalog=catalog, clock=start_clock, webhook_policy=policy) as kit:
        _created_before_any_endpoint(kit, "ada")
        kit.register_webhook_endpoint(f"https://hooks.example:{port}/hooks", idempotency_key="e1")
        answers["hooks.example"] = ["127.0.0.1"]  # the attacker's DNS answers anew
        kit.charge("ada", 15, idempotency_key="low")
        with kit.worker() as worker:
            worker.run_once()
        [delivery] = kit.webhook_deliveries()
    assert delivery.last_error is not None and delivery.last_error.startswith("address_refused")
    assert receiver.received == []


def test_the_worker_connects_to_the_checked_address_and_follows_no_redirect(
    database_url: str, catalog: Catalog, start_clock: ManualClock, receiver: Receiver
) -> None:
    """The name is resolved once per attempt, and that address is where the POST goes (the
    Host header still the URL's); a 302 is a failed attempt, not a second request."""
    port = receiver.url.split(":")[2].split("/")[0]
    lookups: list[str] = []

    def resolve(host: str, _port: int) -> list[str]:
        lookups.append(host)
        return ["127.0.0.1"]

    policy = OutboundPolicy(allow_private=True, resolver=resolve)
    receiver.statuses = [302]
    with CreditKit(database_url, catalog=catalog, clock=start_clock, webhook_policy=policy) as kit:
        _created_before_any_endpoint(kit, "ada")
        kit.register_webhook_endpoint(f"http://hooks.test:{port}/hooks", idempotency_key="e1")
        kit.charge("ada", 15, idempotency_key="low")
        lookups.clear()
        with kit.worker() as worker:
            worker.run_once()
        [delivery] = kit.webhook_deliveries()
    assert lookups == ["hooks.test"]
    [received] = receiver.received
    assert received.headers["Host"] == f"hooks.test:{port}"
    assert delivery.last_error == "HTTP 302" and delivery.last_status_code == 302


def test_the_default_worker_refuses_the_receivers_of_the_development_setting(
    kit: CreditKit, database_url: str, catalog: Catalog, receiver: Receiver
) -> None:
    kit.register_webhook_endpoint(receiver.url, idempotency_key="e1")  # allowed: development
    kit.create_customer("ada")
    kit.charge("ada", 15, idempotency_key="low")
    with CreditKit(database_url, catalog=catalog) as strict, strict.worker() as worker:
        worker.run_once()
        deliveries = strict.webhook_deliveries()
    assert deliveries
    for delivery in deliveries:
        assert delivery.last_error is not None and delivery.last_error.startswith("url_refused")
    assert receiver.received == []
