"""Endpoint secrets at rest and their rotation: encrypted in the database (the raw row holds no
secret), migrated from the clear secrets stored before, kept by a key file on SQLite when no key
is set, refused on PostgreSQL without one; a rotation is exactly once per idempotency key."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from cryptography.fernet import Fernet
from sqlalchemy.engine import Engine

from creditkit import CreditKit, IdempotencyConflict, InvalidRequest, ManualClock
from creditkit.notify import SecretKeyMissing, SecretKeyWrong, WebhookEndpointNotFound
from creditkit.notify.sealing import KEY_FILE_SUFFIX, SECRET_KEY_ENVIRONMENT, new_secret_key
from creditkit.notify.webhooks import ROTATION_OVERLAP_SECONDS
from creditkit.store.database import Database
from creditkit.store.migrate import alembic_config, upgrade_to_head
from creditkit.store.tables import UtcDateTime

TEST_KEY = os.environ[SECRET_KEY_ENVIRONMENT]


def raw_rows(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT * FROM webhook_endpoints ORDER BY id"))
        return [dict(row._mapping) for row in rows]


def test_the_database_holds_no_secret_in_clear(kit: CreditKit) -> None:
    registered = kit.register_webhook_endpoint("https://example.com/a", idempotency_key="e1")
    rotated = kit.rotate_webhook_secret(registered.endpoint.id, idempotency_key="r1")
    [row] = raw_rows(kit.database.engine)
    for secret in (registered.secret, rotated.secret):
        assert not any(secret in str(value) for value in row.values())
        assert secret.removeprefix("whsec_") not in str(row)
    fernet = Fernet(TEST_KEY)
    assert fernet.decrypt(row["secret_sealed"]).decode() == rotated.secret
    assert fernet.decrypt(row["previous_secret_sealed"]).decode() == registered.secret


def test_a_rotation_replays_by_key_and_refuses_an_older_key(kit: CreditKit) -> None:
    endpoint = kit.register_webhook_endpoint("https://example.com/a", idempotency_key="e1")
    other = kit.register_webhook_endpoint("https://example.com/b", idempotency_key="e2")
    first = kit.rotate_webhook_secret(endpoint.endpoint.id, idempotency_key="r1")
    assert kit.rotate_webhook_secret(endpoint.endpoint.id, idempotency_key="r1") == first
    second = kit.rotate_webhook_secret(endpoint.endpoint.id, idempotency_key="r2")
    assert second.secret not in (first.secret, endpoint.secret)
    with pytest.raises(InvalidRequest) as superseded:
        kit.rotate_webhook_secret(endpoint.endpoint.id, idempotency_key="r1")
    assert superseded.value.field == "idempotency_key"
    with pytest.raises(IdempotencyConflict) as conflict:
        kit.rotate_webhook_secret(other.endpoint.id, idempotency_key="r2")
    assert conflict.value.field == "endpoint_id"
    with pytest.raises(WebhookEndpointNotFound):
        kit.rotate_webhook_secret(999, idempotency_key="r3")
    # The registration's replay gives the secret in force now.
    assert (
        kit.register_webhook_endpoint("https://example.com/a", idempotency_key="e1").secret
        == second.secret
    )


def test_a_second_rotation_keeps_only_the_secret_it_replaced(
    kit: CreditKit, start_clock: ManualClock
) -> None:
    endpoint = kit.register_webhook_endpoint("https://example.com/a", idempotency_key="e1")
    first = kit.rotate_webhook_secret(endpoint.endpoint.id, idempotency_key="r1")
    start_clock.advance(hours=1)
    second = kit.rotate_webhook_secret(endpoint.endpoint.id, idempotency_key="r2")
    assert second.endpoint.previous_secret_expires_at == start_clock() + timedelta(
        seconds=ROTATION_OVERLAP_SECONDS
    )
    [row] = raw_rows(kit.database.engine)
    assert Fernet(TEST_KEY).decrypt(row["previous_secret_sealed"]).decode() == first.secret
    assert kit.webhook_endpoint(endpoint.endpoint.id) == second.endpoint


def migrate(engine: Engine, direction: str, revision: str, **attributes: Any) -> None:
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        config.attributes.update(attributes)
        getattr(command, direction)(config, revision)


#: webhook_endpoints as revision 0013 left it, secret in clear.
CLEAR_ENDPOINTS = sa.Table(
    "webhook_endpoints",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("idempotency_key", sa.String(255)),
    sa.Column("url", sa.String(2048)),
    sa.Column("secret", sa.String(80)),
    sa.Column("enabled", sa.Boolean),
    sa.Column("created_at", UtcDateTime),
)


def insert_clear_endpoint(engine: Engine, secret: str) -> None:
    with engine.begin() as connection:
        connection.execute(
            CLEAR_ENDPOINTS.insert().values(
                idempotency_key="old",
                url="https://example.com/old",
                secret=secret,
                enabled=True,
                created_at=datetime(2026, 1, 1, tzinfo=UTC),
            )
        )


def test_the_migration_encrypts_the_secrets_stored_in_clear(database_url: str) -> None:
    database = Database(database_url)
    upgrade_to_head(database.engine)
    migrate(database.engine, "downgrade", "0013")
    clear = "whsec_" + "ab" * 32  # the form secrets had before
    insert_clear_endpoint(database.engine, clear)
    fernet = Fernet(TEST_KEY)
    upgrade_to_head(
        database.engine, seal_secret=lambda secret: fernet.encrypt(secret.encode()).decode()
    )
    [row] = raw_rows(database.engine)
    assert "secret" not in row and clear not in str(row)
    assert fernet.decrypt(row["secret_sealed"]).decode() == clear
    database.dispose()
    with CreditKit(database_url) as kit:
        # Still a valid Standard Webhooks secret: it is base64 as well as hex.
        assert (
            kit.register_webhook_endpoint("https://example.com/old", idempotency_key="old").secret
            == clear
        )


def test_the_migration_refuses_clear_secrets_without_a_key(database_url: str) -> None:
    database = Database(database_url)
    upgrade_to_head(database.engine)
    migrate(database.engine, "downgrade", "0013")
    insert_clear_endpoint(database.engine, "whsec_" + "ab" * 32)
    with pytest.raises(SecretKeyMissing, match="1 webhook endpoint secrets"):
        upgrade_to_head(database.engine)
    with database.engine.connect() as connection:
        assert connection.execute(sa.text("SELECT secret FROM webhook_endpoints")).scalar_one()
    database.dispose()


def test_on_sqlite_without_a_key_a_key_file_beside_the_database_serves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(SECRET_KEY_ENVIRONMENT)
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with CreditKit(url) as kit:
        registered = kit.register_webhook_endpoint("https://example.com/a", idempotency_key="e1")
    key_file = tmp_path / ("ledger.db" + KEY_FILE_SUFFIX)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    [row] = raw_rows(sa.create_engine(url))
    assert Fernet(key_file.read_bytes().strip()).decrypt(row["secret_sealed"]).decode() == (
        registered.secret
    )
    with CreditKit(url) as reopened:  # the same key, read back
        assert (
            reopened.register_webhook_endpoint("https://example.com/a", idempotency_key="e1").secret
            == registered.secret
        )
    with CreditKit(url, secret_key=new_secret_key()) as wrong, pytest.raises(SecretKeyWrong):
        wrong.register_webhook_endpoint("https://example.com/a", idempotency_key="e1")


@pytest.mark.postgres
def test_on_postgresql_without_a_key_secrets_are_refused(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(SECRET_KEY_ENVIRONMENT)
    with CreditKit(postgres_url) as kit:
        with pytest.raises(SecretKeyMissing, match="CREDITKIT_SECRET_KEY"):
            kit.register_webhook_endpoint("https://example.com/a", idempotency_key="e1")
        assert kit.webhook_endpoints() == []


def test_a_malformed_key_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(SecretKeyWrong, match="secret_key is not a secret key"):
        CreditKit(f"sqlite:///{tmp_path / 'ledger.db'}", secret_key="not a key")
