"""Limits under concurrency on PostgreSQL: 16 real threads, on two CreditKits sharing the
database (as two processes would), race for 10 slots of a count limit, of a per-period counter
and of a team; exactly 10 are counted every time, and replays counted nothing more.

No test sleeps: threads start together at a barrier, and every wait has a generous timeout that
only turns a hang into a failure.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import psycopg
import pytest

from creditkit import CreditKit, ManualClock
from creditkit.catalog import parse_catalog
from creditkit.entitlements import Decision, Reason

THREADS = 16
CAP = 10
WAIT_TIMEOUT_SECONDS = 120

CATALOG = f"""
units: {{credits: {{scale: 0}}}}
plans:
  team:
    name: Team
    default: true
    rank: 0
    prices: {{month: {{amount: 0, currency: USD}}}}
    limits:
      slots: {{count: {CAP}}}
      calls: {{per_period: {CAP}, period: month}}
      team_members: {{count: {CAP}}}
  unlimited:
    name: Unlimited
    rank: 1
    prices: {{month: {{amount: 100, currency: USD}}}}
    limits:
      slots: {{count: unlimited}}
      calls: {{per_period: unlimited, period: month}}
      team_members: {{count: unlimited}}
"""

T = TypeVar("T")


@contextmanager
def two_kits(postgres_url: str) -> Iterator[tuple[CreditKit, CreditKit]]:
    catalog = parse_catalog(CATALOG, "race.yaml")
    clock = ManualClock()
    first = CreditKit(postgres_url, catalog=catalog, clock=clock)
    second = CreditKit(postgres_url, catalog=catalog, clock=clock)
    try:
        yield first, second
    finally:
        first.close()
        second.close()


def race(kits: tuple[CreditKit, CreditKit], call: Callable[[CreditKit, int], T]) -> list[T]:
    """``call(kit, worker)`` in each of 16 threads at once, half of them on each kit; the
    results in worker order. Any exception (LedgerBusy included) fails the test."""
    start = threading.Barrier(THREADS)

    def worker(index: int) -> T:
        start.wait(timeout=WAIT_TIMEOUT_SECONDS)
        return call(kits[index % 2], index)

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        futures = [pool.submit(worker, index) for index in range(THREADS)]
        return [future.result(timeout=WAIT_TIMEOUT_SECONDS) for future in futures]


def scalar(postgres_url: str, query: str) -> int:
    with psycopg.connect(postgres_url, connect_timeout=10) as connection:
        row = connection.execute(query).fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.postgres
def test_sixteen_threads_acquire_exactly_ten_slots(postgres_url: str) -> None:
    with two_kits(postgres_url) as kits:
        kits[0].create_customer("c1")
        first = race(kits, lambda kit, index: kit.acquire("c1", "slots", f"slot-{index}"))
        allowed = [decision for decision in first if decision.allowed]
        assert len(allowed) == CAP
        assert sorted(decision.used or 0 for decision in allowed) == list(range(1, CAP + 1))
        assert all(
            decision == Decision(False, Reason.LIMIT_REACHED, "unlimited", CAP, CAP)
            for decision in first
            if not decision.allowed
        )
        # Everyone again, at once: the held ones count once, the others are still refused.
        again = race(kits, lambda kit, index: kit.acquire("c1", "slots", f"slot-{index}"))
        for before, after in zip(first, again, strict=True):
            assert after.allowed == before.allowed
            assert after.reason == (Reason.ALREADY_COUNTED if before.allowed else before.reason)
        assert [usage.used for usage in kits[1].usage_of_limits("c1") if usage.name == "slots"] == [
            CAP
        ]
    assert scalar(postgres_url, "SELECT COUNT(*) FROM limit_resources") == CAP


@pytest.mark.postgres
def test_sixteen_threads_track_exactly_ten_calls(postgres_url: str) -> None:
    with two_kits(postgres_url) as kits:
        kits[0].create_customer("c1")

        def track(kit: CreditKit, index: int) -> Decision:
            return kit.track("c1", "calls", idempotency_key=f"call-{index}")

        first = race(kits, track)
        assert sum(decision.allowed for decision in first) == CAP
        # Every key replayed at once: the first answers, nothing counted twice.
        assert race(kits, track) == first
        usage = [usage for usage in kits[1].usage_of_limits("c1") if usage.name == "calls"]
        assert usage[0].used == CAP
    assert scalar(postgres_url, "SELECT COUNT(*) FROM limit_events") == THREADS
    assert scalar(postgres_url, "SELECT SUM(quantity) FROM limit_events WHERE allowed") == CAP


@pytest.mark.postgres
def test_sixteen_threads_join_a_team_of_ten(postgres_url: str) -> None:
    with two_kits(postgres_url) as kits:
        kits[0].create_customer("team", kind="workspace")
        kits[0].create_customer("owner")
        for index in range(THREADS):
            kits[0].create_customer(f"user-{index}")
        kits[0].add_member("team", "owner", "owner")
        joined = race(kits, lambda kit, index: kit.add_member("team", f"user-{index}", "editor"))
        assert sum(decision.allowed for decision in joined) == CAP - 1  # the owner counts
        assert len(kits[1].members("team")) == CAP
    assert scalar(postgres_url, "SELECT COUNT(*) FROM workspace_members") == CAP


def test_the_same_race_on_sqlite(tmp_path: Path) -> None:
    """SQLite serializes writers (``BEGIN IMMEDIATE``): the same race, the same exact count."""
    url = f"sqlite:///{tmp_path / 'race.db'}"
    with two_kits(url) as kits:
        kits[0].create_customer("c1")
        acquired = race(kits, lambda kit, index: kit.acquire("c1", "slots", f"slot-{index}"))
        tracked = race(
            kits, lambda kit, index: kit.track("c1", "calls", idempotency_key=f"{index}")
        )
        assert sum(decision.allowed for decision in acquired) == CAP
        assert sum(decision.allowed for decision in tracked) == CAP
