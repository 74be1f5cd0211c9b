"""Fixtures: every ledger test runs on SQLite and on PostgreSQL.

PostgreSQL tests need a server at ``CREDITKIT_TEST_POSTGRES_URL`` (default
``postgresql://postgres@127.0.0.1:5432/postgres``). Each test gets a database of its own, cloned
from a migrated template, and drops it afterwards. Locally they skip when no server answers;
with ``CREDITKIT_REQUIRE_POSTGRES=1`` (as ``.ci/run`` sets) they fail instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import psycopg
import pytest

from creditkit import CreditKit, ManualClock
from creditkit.store.database import Database
from creditkit.store.migrate import upgrade_to_head

POSTGRES_ADMIN_URL = os.environ.get(
    "CREDITKIT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_POSTGRES = os.environ.get("CREDITKIT_REQUIRE_POSTGRES") == "1"
_TEMPLATE = f"creditkit_template_{os.getpid()}"
#: The secret key that encrypts webhook secrets, for every kit the tests open (and the servers
#: they start, which inherit it); tests of the key's absence remove it.
os.environ.setdefault("CREDITKIT_SECRET_KEY", "Y3JlZGl0a2l0LXRlc3RzLXNlY3JldC1rZXktMzJieXQ=")


def _admin() -> psycopg.Connection[Any]:
    return psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=3)


def _url_for(database: str) -> str:
    base, _, _ = POSTGRES_ADMIN_URL.rpartition("/")
    return f"{base}/{database}"


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A migrated database that each test's database is cloned from (cloning is much faster
    than migrating)."""
    try:
        admin = _admin()
    except psycopg.OperationalError as error:
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL is required (CREDITKIT_REQUIRE_POSTGRES=1): {error}")
        pytest.skip(f"no PostgreSQL server answers: {error}")
    with admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{_TEMPLATE}"')
        admin.execute(f'CREATE DATABASE "{_TEMPLATE}"')
    database = Database(_url_for(_TEMPLATE))
    upgrade_to_head(database.engine)
    database.dispose()
    yield _TEMPLATE
    with _admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{_TEMPLATE}" WITH (FORCE)')


def _cloned_database(template: str) -> Iterator[str]:
    name = f"creditkit_test_{uuid.uuid4().hex[:12]}"
    with _admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    yield _url_for(name)
    with _admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_url(postgres_template: str) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for one test, dropped afterwards."""
    yield from _cloned_database(postgres_template)


@pytest.fixture(scope="module")
def module_postgres_url(postgres_template: str) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database shared by one module's tests (those that share
    served processes), dropped afterwards."""
    yield from _cloned_database(postgres_template)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test that takes this runs twice: on a SQLite file and on a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


KitFactory = Callable[..., CreditKit]


@pytest.fixture
def make_kit(database_url: str, clock: ManualClock) -> Iterator[KitFactory]:
    """Opens CreditKits on the test's database (several may share it, as processes would)."""
    opened: list[CreditKit] = []

    def make(**options: Any) -> CreditKit:
        options.setdefault("clock", clock)
        kit = CreditKit(database_url, **options)
        opened.append(kit)
        return kit

    yield make
    for kit in opened:
        with suppress(Exception):
            kit.close()


@pytest.fixture
def ck(make_kit: KitFactory) -> CreditKit:
    """A CreditKit with units ``credits`` (scale 0) and ``usd`` (scale 2), and customers
    ``u1``, ``u2`` (users) and ``w1`` (a workspace)."""
    kit = make_kit(units={"credits": 0, "usd": 2})
    kit.create_customer("u1")
    kit.create_customer("u2")
    kit.create_customer("w1", kind="workspace")
    return kit
