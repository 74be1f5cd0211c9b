"""``--database-url`` with several PostgreSQL hosts, in SQLAlchemy's form
(``postgresql://USER@/DATABASE?host=H1:PORT&host=H2:PORT&target_session_attrs=read-write``):
libpq tries the hosts in order and keeps the first that accepts writes, so a host that is down
is passed over. The URL is shown without its password; libpq's own ``h1:5432,h2:5433`` list is
refused naming ``database_url``. (The switch to a promoted standby under load:
tests/api/test_standby_failover.py.)"""

from __future__ import annotations

import socket

import pytest
import sqlalchemy as sa

from creditkit import CreditKit, InvalidRequest
from creditkit.cli import main
from creditkit.store.database import Database, check_database_url, create_engine, display_url


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def multi_host(postgres_url: str, password: str = "") -> tuple[str, int]:
    """``postgres_url``'s database behind a first host where nothing listens; and its port."""
    parsed = sa.make_url(postgres_url)
    secret = f":{password}" if password else ""
    url = (
        f"postgresql://{parsed.username}{secret}@/{parsed.database}"
        f"?host=127.0.0.1:{free_port()}&host={parsed.host}:{parsed.port}"
        "&target_session_attrs=read-write"
    )
    return url, int(parsed.port or 5432)


@pytest.mark.postgres
def test_the_host_that_answers_and_accepts_writes_is_used(postgres_url: str) -> None:
    url, port = multi_host(postgres_url)
    database = Database(url)
    try:
        with database.read() as connection:
            assert connection.exec_driver_sql("SELECT inet_server_port()").scalar() == port
    finally:
        database.dispose()
    with CreditKit(url) as kit:
        kit.create_customer("ada")
        kit.grant("ada", 10, idempotency_key="g1")
        charge = kit.charge("ada", 3, idempotency_key="c1")
        assert kit.charge("ada", 3, idempotency_key="c1") == charge
        assert kit.balance("ada").available == 7
        assert kit.audit().ok


@pytest.mark.postgres
def test_the_url_is_printed_without_its_password(
    postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # The test server trusts loopback: the password is accepted and ignored.
    url, _port = multi_host(postgres_url, password="hunter2")
    assert main(["migrate", "--database-url", url]) == 0
    printed = capsys.readouterr().out
    assert "hunter2" not in printed
    assert "postgres:***@/" in printed
    assert "&host=127.0.0.1:" in printed  # the hosts read as written


def test_display_url_hides_the_password_and_keeps_every_host() -> None:
    shown = display_url("postgres://app:s3cret@/ledger?host=db1:5432&host=db2:5433")
    assert shown == "postgresql+psycopg://app:***@/ledger?host=db1:5432&host=db2:5433"
    assert display_url("sqlite:///credits.db") == "sqlite:///credits.db"


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://app@db1:5432,db2:5433/ledger",  # libpq's list, not SQLAlchemy's
        "postgresql://app@db1:notaport/ledger",
    ],
)
def test_a_url_that_does_not_parse_is_refused_naming_the_setting(url: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        check_database_url(url)
    assert refused.value.field == "database_url"
    assert "host=H1:PORT&host=H2:PORT" in refused.value.reason


def test_two_multi_host_forms_mixed_are_refused_naming_the_setting() -> None:
    with pytest.raises(InvalidRequest) as refused:
        create_engine("postgresql://app@/ledger?host=db1:5432&host=db2&port=5433")
    assert refused.value.field == "database_url"
