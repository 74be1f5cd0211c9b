"""Keys' SQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from creditkit.store.database import insert_ignoring_duplicates
from creditkit.store.tables import (
    api_keys,
    auth_failures,
    service_secrets,
    session_codes,
    session_revocations,
)

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


def shared_secret(connection: Connection, name: str, candidate_sealed: str, now: datetime) -> Any:
    """The row of the secret stored under ``name`` (sealed); the first caller's candidate
    becomes it. Two processes starting at once both read the one that won the insert."""
    connection.execute(
        insert_ignoring_duplicates(connection, service_secrets).values(
            name=name, secret_sealed=candidate_sealed, created_at=now
        )
    )
    return connection.execute(
        sa.select(service_secrets).where(service_secrets.c.name == name)
    ).one()


def rotate_shared_secret(
    connection: Connection, name: str, new_sealed: str, previous_expires_at: datetime
) -> bool:
    """The secret under ``name`` becomes ``new_sealed``; the current one becomes the previous,
    verifying until ``previous_expires_at``. False when there is no such secret."""
    updated = connection.execute(
        service_secrets.update()
        .where(service_secrets.c.name == name)
        .values(
            previous_secret_sealed=service_secrets.c.secret_sealed,
            previous_expires_at=previous_expires_at,
            secret_sealed=new_sealed,
        )
    )
    return updated.rowcount == 1


def count_auth_failure(connection: Connection, client_address: str, window_start: datetime) -> int:
    """Adds one failed authentication to the address's window; returns the window's count.
    Windows before this one are deleted as they are passed (at most a few per address)."""
    connection.execute(
        auth_failures.delete().where(
            auth_failures.c.client_address == client_address,
            auth_failures.c.window_start < window_start,
        )
    )
    connection.execute(
        insert_ignoring_duplicates(connection, auth_failures).values(
            client_address=client_address, window_start=window_start, count=0
        )
    )
    key = (auth_failures.c.client_address == client_address) & (
        auth_failures.c.window_start == window_start
    )
    connection.execute(auth_failures.update().where(key).values(count=auth_failures.c.count + 1))
    count: int = connection.execute(sa.select(auth_failures.c.count).where(key)).scalar_one()
    return count


def auth_failures_in(connection: Connection, client_address: str, window_start: datetime) -> int:
    count: int | None = connection.execute(
        sa.select(auth_failures.c.count).where(
            auth_failures.c.client_address == client_address,
            auth_failures.c.window_start == window_start,
        )
    ).scalar_one_or_none()
    return count or 0


def revoke_sessions(connection: Connection, customer: str, user: str, now: datetime) -> None:
    connection.execute(
        insert_ignoring_duplicates(connection, session_revocations).values(
            customer=customer, user=user, revoked_at=now
        )
    )
    connection.execute(
        session_revocations.update()
        .where(session_revocations.c.customer == customer, session_revocations.c.user == user)
        .values(revoked_at=now)
    )


def sessions_revoked_at(connection: Connection, customer: str, user: str) -> datetime | None:
    """The latest revocation covering ``user``'s tokens of ``customer`` (theirs, or all)."""
    revoked: datetime | None = connection.execute(
        sa.select(sa.func.max(session_revocations.c.revoked_at)).where(
            session_revocations.c.customer == customer,
            session_revocations.c.user.in_(["", user]),
        )
    ).scalar_one_or_none()
    return revoked


def insert_session_code(connection: Connection, values: dict[str, Any]) -> None:
    connection.execute(session_codes.insert().values(**values))


def session_code(connection: Connection, code_sha256: str) -> Any | None:
    return connection.execute(
        sa.select(session_codes).where(session_codes.c.code_sha256 == code_sha256)
    ).first()


def use_session_code(connection: Connection, code_sha256: str, now: datetime) -> bool:
    """Marks the code used; False when it was used already or has expired (one of two
    browsers exchanging it at once wins)."""
    updated = connection.execute(
        session_codes.update()
        .where(
            session_codes.c.code_sha256 == code_sha256,
            session_codes.c.used_at.is_(None),
            session_codes.c.expires_at > now,
        )
        .values(used_at=now)
    )
    return updated.rowcount == 1


def delete_expired_session_codes(connection: Connection, now: datetime, limit: int) -> None:
    """Forgets up to ``limit`` codes past their expiry (bounded: called as codes are made)."""
    expired = (
        sa.select(session_codes.c.code_sha256).where(session_codes.c.expires_at <= now).limit(limit)
    )
    connection.execute(session_codes.delete().where(session_codes.c.code_sha256.in_(expired)))


def put_shared_value(connection: Connection, name: str, sealed: str, now: datetime) -> None:
    """Stores ``sealed`` under ``name``, replacing what was there (the last writer wins)."""
    connection.execute(service_secrets.delete().where(service_secrets.c.name == name))
    connection.execute(
        service_secrets.insert().values(name=name, secret_sealed=sealed, created_at=now)
    )


def shared_value(connection: Connection, name: str) -> str | None:
    """The sealed value stored under ``name``, if any."""
    value: str | None = connection.execute(
        sa.select(service_secrets.c.secret_sealed).where(service_secrets.c.name == name)
    ).scalar_one_or_none()
    return value
