"""The API over a CreditKit on the test's database (SQLite and PostgreSQL), with the bundled
example catalog and a ManualClock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from api_helpers import Api
from fastapi.testclient import TestClient

from creditkit import CreditKit, ManualClock
from creditkit.server import create_app
from creditkit.server.serve import example_catalog


@pytest.fixture
def api(database_url: str, clock: ManualClock) -> Iterator[Api]:
    kit = CreditKit(database_url, catalog=example_catalog(), clock=clock)
    with TestClient(create_app(kit), raise_server_exceptions=False) as client:
        yield Api(kit, client)
    kit.close()
