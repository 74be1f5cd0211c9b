"""Every integration runs on both ledgers: the embedded ``CreditKit``, and a ``Client`` of the
same kit served over real HTTP; each on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from creditkit import CreditKit, ManualClock
from creditkit.client import Client
from creditkit.client.testing import serve_in_thread
from creditkit.integrations import Metering
from creditkit.keys.schemas import Scope
from creditkit.server import create_app

#: The client tests' catalog: chat_message 1 credit, image_generation 10, gpu_second 0.05 usd.
CATALOG = Path(__file__).parents[1] / "client" / "catalog.yaml"


@dataclass(frozen=True)
class Service:
    base_url: str
    secret: str


@pytest.fixture
def kit(database_url: str, clock: ManualClock) -> Iterator[CreditKit]:
    kit = CreditKit(database_url, catalog=CATALOG, clock=clock)
    kit.create_customer("ada")  # 100 credits, the free plan's allowance
    yield kit
    kit.close()


@pytest.fixture
def service(kit: CreditKit) -> Iterator[Service]:
    """The kit served over real HTTP, and an admin key of it."""
    secret = kit.keys.create_key("integration tests", Scope.ADMIN).secret
    with serve_in_thread(create_app(kit)) as base_url:
        yield Service(base_url, secret)


@pytest.fixture(params=["embedded", "client"])
def ledger(request: pytest.FixtureRequest, kit: CreditKit) -> Iterator[Metering]:
    """The kit itself, or a Client of it."""
    if request.param == "embedded":
        yield kit
        return
    service = request.getfixturevalue("service")
    with Client(service.base_url, service.secret) as client:
        yield client


@pytest.fixture
def client_of(service: Service) -> Iterator[Callable[[httpx.BaseTransport], Client]]:
    """Clients of the service through a transport of the test's (an ``Outage``), that try
    once: a refusal reaches the integration without waits."""
    opened: list[Client] = []

    def open_client(transport: httpx.BaseTransport) -> Client:
        opened.append(Client(service.base_url, service.secret, transport=transport, retries_max=0))
        return opened[-1]

    yield open_client
    for client in opened:
        client.close()
