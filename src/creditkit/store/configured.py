"""Which customers have something configured (thresholds of their own, an auto top-up), known to
this process without a query on every charge.

Spend hooks run inside every charge; most customers configure nothing, and a query per charge to
learn that would double the cost of a charge. So the set of customer ids is read at most every
``refresh_seconds``: a change made by this process is seen at the next spend (``forget``), one made
by another process within ``refresh_seconds``. Past ``cached_max`` customers the set is not kept,
and every customer may have it (the hook then asks the database).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from sqlalchemy.engine import Connection

from creditkit.errors import require

#: How stale a process's view of another process's change may be.
REFRESH_SECONDS_DEFAULT = 10
#: Customers kept in memory, at most (eight bytes each, and a set lookup per charge).
CACHED_MAX_DEFAULT = 100_000

#: What names a customer in the set: its row id (spend hooks), or its external id (a charge's
#: answer, which has no row id).
Key = TypeVar("Key", bound=Hashable)


class ConfiguredCustomers(Generic[Key]):
    def __init__(
        self,
        read_ids: Callable[[Connection, int], list[Key]],
        *,
        refresh_seconds: int = REFRESH_SECONDS_DEFAULT,
        cached_max: int = CACHED_MAX_DEFAULT,
    ) -> None:
        require(
            refresh_seconds > 0 and cached_max > 0,
            "configured customers are refreshed and cached in positive amounts",
            f"refresh_seconds {refresh_seconds}, cached_max {cached_max}",
        )
        self._read_ids = read_ids
        self._refresh = timedelta(seconds=refresh_seconds)
        self._cached_max = cached_max
        self._lock = threading.Lock()
        self._ids: frozenset[Key] = frozenset()
        self._complete = False
        self._read_at: datetime | None = None

    def may_include(self, connection: Connection, customer_id: Key, now: datetime) -> bool:
        """False only when the customer surely has nothing configured."""
        with self._lock:
            read_at = self._read_at
        if read_at is None or now < read_at or now - read_at >= self._refresh:
            found = self._read_ids(connection, self._cached_max + 1)
            with self._lock:
                self._ids = frozenset(found)
                self._complete = len(found) <= self._cached_max
                self._read_at = now
        with self._lock:
            return not self._complete or customer_id in self._ids

    def surely_excludes(self, customer_id: Key, now: datetime) -> bool:
        """True only when the set, read within ``refresh_seconds`` and complete, lacks the
        customer: a check without a query (False: ask ``may_include`` in a transaction)."""
        with self._lock:
            read_at = self._read_at
            fresh = read_at is not None and read_at <= now < read_at + self._refresh
            return fresh and self._complete and customer_id not in self._ids

    def forget(self) -> None:
        """This process changed someone's configuration: read the set again at the next spend."""
        with self._lock:
            self._read_at = None
