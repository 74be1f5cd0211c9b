"""ConfiguredCustomers: one read per refresh, not one per charge; stale by at most the refresh."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection

from creditkit.store.configured import ConfiguredCustomers

NOW = datetime(2026, 1, 1, tzinfo=UTC)


class Reads:
    def __init__(self, ids: list[int]) -> None:
        self.ids = ids
        self.count = 0

    def __call__(self, _connection: Connection, limit: int) -> list[int]:
        self.count += 1
        return self.ids[:limit]


CONNECTION: Any = None  # the reader here needs none


def test_the_set_is_read_once_per_refresh() -> None:
    reads = Reads([3, 7])
    configured = ConfiguredCustomers(reads, refresh_seconds=10)
    answers = [configured.may_include(CONNECTION, customer, NOW) for customer in (1, 3, 7, 9)]
    assert answers == [False, True, True, False]
    assert reads.count == 1
    reads.ids = [1]  # another process configures customer 1
    assert not configured.may_include(CONNECTION, 1, NOW + timedelta(seconds=9))
    assert configured.may_include(CONNECTION, 1, NOW + timedelta(seconds=10))
    assert reads.count == 2


def test_a_change_here_is_seen_at_once_and_a_clock_going_back_reads_again() -> None:
    reads = Reads([])
    configured = ConfiguredCustomers(reads, refresh_seconds=10)
    assert not configured.may_include(CONNECTION, 5, NOW)
    reads.ids = [5]
    configured.forget()
    assert configured.may_include(CONNECTION, 5, NOW)
    assert configured.may_include(CONNECTION, 5, NOW - timedelta(seconds=1))
    assert reads.count == 3


def test_past_the_cap_every_customer_may_be_configured() -> None:
    configured = ConfiguredCustomers(Reads([1, 2, 3]), cached_max=2)
    assert configured.may_include(CONNECTION, 99, NOW)


def test_surely_excludes_only_from_a_fresh_complete_set_and_never_reads() -> None:
    reads = Reads([3])
    configured = ConfiguredCustomers(reads, refresh_seconds=10, cached_max=2)
    assert not configured.surely_excludes(1, NOW)  # never read: unknown, so not sure
    configured.may_include(CONNECTION, 1, NOW)
    assert reads.count == 1
    assert configured.surely_excludes(1, NOW + timedelta(seconds=9))
    assert not configured.surely_excludes(3, NOW)  # configured
    assert not configured.surely_excludes(1, NOW + timedelta(seconds=10))  # stale
    assert not configured.surely_excludes(1, NOW - timedelta(seconds=1))  # clock went back
    configured.forget()
    assert not configured.surely_excludes(1, NOW)
    reads.ids = [4, 5, 6]  # past the cap: the set is not kept, nobody is surely without
    configured.may_include(CONNECTION, 1, NOW)
    assert not configured.surely_excludes(1, NOW)
    assert reads.count == 2
