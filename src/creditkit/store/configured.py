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
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.engine import Connection

from creditkit.errors import require

#: How stale a process's view of another process's change may be.
REFRESH_SECONDS_DEFAULT = 10
#: Customers kept in memory, at most (eight bytes each, and a set lookup per charge).
CACHED_MAX_DEFAULT = 100_000

ReadIds = Callable[[Connection, int], list[int]]


class ConfiguredCustomers:
    def __init__(
        self,
        read_ids: ReadIds,
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
        self._ids: frozenset[int] = frozenset()
        self._complete = False
        self._read_at: datetime | None = None

    def may_include(self, connection: Connection, customer_id: int, now: datetime) -> bool:
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

    def forget(self) -> None:
        """This process changed someone's configuration: read the set again at the next spend."""
        with self._lock:
            self._read_at = None
