"""Every integration runs on both ledgers: the embedded ``CreditKit``, and a ``Client`` of the
same kit served over real HTTP; each on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from creditkit import CreditKit, ManualClock
from creditkit.api import create_app
from creditkit.client import Client
from creditkit.client.testing import serve_in_thread
from creditkit.integrations import Metering
from creditkit.keys.schemas import Scope

#: The client tests' catalog: chat_message 1 credit, image_generation 10, gpu_second 0.05 usd.
CATALOG = Path(__file__).parents[1] / "client" / "catalog.yaml"


@pytest.fixture
def kit(database_url: str, clock: ManualClock) -> Iterator[CreditKit]:
    kit = CreditKit(database_url, catalog=CATALOG, clock=clock)
    kit.create_customer("ada")  # 100 credits, the free plan's allowance
    yield kit
    kit.close()


@pytest.fixture(params=["embedded", "client"])
def ledger(request: pytest.FixtureRequest, kit: CreditKit) -> Iterator[Metering]:
    """The kit itself, or a Client of it."""
    if request.param == "embedded":
        yield kit
        return
    secret = kit.keys.create_key("integration tests", Scope.ADMIN).secret
    with serve_in_thread(create_app(kit)) as base_url, Client(base_url, secret) as client:
        yield client
