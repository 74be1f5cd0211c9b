"""A CreditKit on the test's database (SQLite and PostgreSQL) served over real HTTP in a thread,
and a ``Client`` of it whose waits move the kit's ManualClock instead of sleeping."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from waiting import Waits

from creditkit import CreditKit, ManualClock
from creditkit.client import Client
from creditkit.client.testing import serve_in_thread
from creditkit.keys.schemas import Scope
from creditkit.notify.outbound import OutboundPolicy
from creditkit.server import create_app

CATALOG = Path(__file__).with_name("catalog.yaml")


@pytest.fixture
def kit(database_url: str, clock: ManualClock) -> Iterator[CreditKit]:
    kit = CreditKit(
        database_url,
        catalog=CATALOG,
        clock=clock,
        webhook_policy=OutboundPolicy(allow_private=True),
    )
    yield kit
    kit.close()


@pytest.fixture
def base_url(kit: CreditKit) -> Iterator[str]:
    with serve_in_thread(create_app(kit)) as url:
        yield url


@pytest.fixture
def secret(kit: CreditKit) -> str:
    return kit.keys.create_key("client tests", Scope.ADMIN).secret


@pytest.fixture
def waits(clock: ManualClock) -> Waits:
    return Waits(clock)


@pytest.fixture
def client(base_url: str, secret: str, waits: Waits) -> Iterator[Client]:
    with Client(base_url, secret, sleep=waits) as client:
        yield client
