"""The secrets every serving process shares (the key that signs session tokens and console
cookies, the sandbox's webhook secret), kept in ``service_secrets`` sealed with the ledger's
secret key (notify/sealing.py), as webhook endpoints' secrets are: a copy of the database alone
(a backup, a replica) forges nothing.

A secret is rotated with an overlap: the one it replaces still verifies for
``ROTATION_OVERLAP_SECONDS``, longer than anything signed with it lives, so no browser is
signed out by a rotation. Every process re-reads the secrets at least every
``REFRESH_SECONDS``, so a rotation made by one reaches the others within that time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from creditkit.clock import Clock
from creditkit.errors import InvalidRequest
from creditkit.keys import repository
from creditkit.notify.sealing import Sealer
from creditkit.store.database import Database

#: Longer than the longest-lived thing signed (a console cookie: 8 hours).
ROTATION_OVERLAP_SECONDS = 9 * 3_600
REFRESH_SECONDS = 60
#: The secrets a service keeps: each has a name a rotation may ask for.
SECRET_NAMES_MAX = 16


@dataclass(frozen=True, slots=True)
class SharedSecret:
    """A secret in clear, and the one it replaced while that still verifies."""

    current: str
    previous: str | None
    previous_expires_at: datetime | None

    def verifying(self, now: datetime) -> list[str]:
        """The secrets a signature made now or before the rotation may carry."""
        if self.previous is None or self.previous_expires_at is None:
            return [self.current]
        return [self.current, self.previous] if now < self.previous_expires_at else [self.current]


class ServiceSecrets:
    def __init__(self, database: Database, clock: Clock, sealer: Sealer) -> None:
        self._database = database
        self._clock = clock
        self._sealer = sealer
        self._lock = threading.Lock()
        self._read: dict[str, tuple[datetime, SharedSecret]] = {}

    def get(self, name: str, make: Callable[[], str]) -> SharedSecret:
        """The secret stored under ``name``; the first process's ``make()`` becomes it."""
        now = self._clock()
        with self._lock:
            cached = self._read.get(name)
        if cached is not None and cached[0] > now:
            return cached[1]
        row = self._database.unit_of_work(
            lambda: now,
            lambda context: repository.shared_secret(
                context.connection, name, self._sealer.seal(make()), context.now
            ),
        )
        secret = SharedSecret(
            self._sealer.unseal(row.secret_sealed),
            None if row.previous_secret_sealed is None
            else self._sealer.unseal(row.previous_secret_sealed),
            row.previous_expires_at,
        )  # fmt: skip
        with self._lock:
            if len(self._read) >= SECRET_NAMES_MAX:
                self._read.clear()
            self._read[name] = (now + timedelta(seconds=REFRESH_SECONDS), secret)
        return secret

    def put(self, name: str, value: str) -> None:
        """Stores ``value`` (sealed) under ``name``, replacing what was there."""
        now = self._clock()
        sealed = self._sealer.seal(value)
        self._database.unit_of_work(
            lambda: now,
            lambda context: repository.put_shared_value(
                context.connection, name, sealed, context.now
            ),
        )
        with self._lock:
            self._read.pop(name, None)

    def value(self, name: str) -> str | None:
        """What ``put`` stored under ``name``, if anything, read now."""
        with self._database.read() as connection:
            sealed = repository.shared_value(connection, name)
        return None if sealed is None else self._sealer.unseal(sealed)

    def rotate(self, name: str, make: Callable[[], str]) -> datetime:
        """Replaces the secret under ``name`` with ``make()``; returns when the replaced one
        stops verifying."""
        now = self._clock()
        expires_at = now + timedelta(seconds=ROTATION_OVERLAP_SECONDS)
        self.get(name, make)  # there is one to replace
        found = self._database.unit_of_work(
            lambda: now,
            lambda context: repository.rotate_shared_secret(
                context.connection, name, self._sealer.seal(make()), expires_at
            ),
        )
        if not found:
            raise InvalidRequest("name", f"no service secret {name!r}")
        with self._lock:
            self._read.pop(name, None)
        return expires_at
