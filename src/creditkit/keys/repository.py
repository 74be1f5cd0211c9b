"""Keys' SQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from creditkit.store.database import insert_ignoring_duplicates
from creditkit.store.tables import api_keys, service_secrets

#: Keys listed at once; an app has a handful.
KEYS_LISTED_MAX = 1_000


def insert_key(
    connection: Connection,
    key_id: str,
    secret_sha256: str,
    name: str,
    scope: str,
    now: datetime,
) -> None:
    connection.execute(
        api_keys.insert().values(
            key_id=key_id,
            secret_sha256=secret_sha256,
            name=name,
            scopes=scope,
            created_at=now,
        )
    )


def key_by_secret(connection: Connection, secret_sha256: str) -> Any | None:
    return connection.execute(
        sa.select(api_keys).where(api_keys.c.secret_sha256 == secret_sha256)
    ).first()


def key_by_id(connection: Connection, key_id: str) -> Any | None:
    return connection.execute(sa.select(api_keys).where(api_keys.c.key_id == key_id)).first()


def keys(connection: Connection) -> list[Any]:
    return list(
        connection.execute(sa.select(api_keys).order_by(api_keys.c.id).limit(KEYS_LISTED_MAX))
    )


def active_key_count(connection: Connection) -> int:
    count: int = connection.execute(
        sa.select(sa.func.count()).select_from(api_keys).where(api_keys.c.revoked_at.is_(None))
    ).scalar_one()
    return count


def revoke(connection: Connection, key_id: str, now: datetime) -> bool:
    """True when the key exists (revoking a revoked key keeps its first revocation time)."""
    found = connection.execute(sa.select(api_keys.c.id).where(api_keys.c.key_id == key_id)).first()
    if found is None:
        return False
    connection.execute(
        api_keys.update()
        .where(api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return True


def shared_secret(connection: Connection, name: str, candidate: str, now: datetime) -> str:
    """The secret stored under ``name``; the first caller's ``candidate`` becomes it. Two
    processes starting at once both read the one that won the insert."""
    connection.execute(
        insert_ignoring_duplicates(connection, service_secrets).values(
            name=name, secret=candidate, created_at=now
        )
    )
    secret: str = connection.execute(
        sa.select(service_secrets.c.secret).where(service_secrets.c.name == name)
    ).scalar_one()
    return secret


def put_shared_value(connection: Connection, name: str, value: str, now: datetime) -> None:
    """Stores ``value`` under ``name``, replacing what was there (the last writer wins)."""
    connection.execute(service_secrets.delete().where(service_secrets.c.name == name))
    connection.execute(service_secrets.insert().values(name=name, secret=value, created_at=now))


def shared_value(connection: Connection, name: str) -> str | None:
    value: str | None = connection.execute(
        sa.select(service_secrets.c.secret).where(service_secrets.c.name == name)
    ).scalar_one_or_none()
    return value
