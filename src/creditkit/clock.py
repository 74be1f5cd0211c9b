"""Time is an input (the rule of that name, docs/rules.md): every operation reads ``now`` from a
clock, so tests move time instead of sleeping."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


class ManualClock:
    """A clock that stands still until told to move; for tests and simulations.

    >>> clock = ManualClock(datetime(2026, 1, 31, tzinfo=UTC))
    >>> clock.advance(days=1)
    datetime.datetime(2026, 2, 1, 0, 0, tzinfo=datetime.timezone.utc)
    """

    def __init__(self, start: datetime | None = None) -> None:
        start = start or datetime(2026, 1, 1, tzinfo=UTC)
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, **delta: float) -> datetime:
        """Moves forward by ``timedelta(**delta)`` (never backward) and returns the new now."""
        step = timedelta(**delta)
        if step < timedelta(0):
            raise ValueError("time only moves forward")
        with self._lock:
            self._now += step
            return self._now

    def set(self, moment: datetime) -> datetime:
        """Moves to ``moment``, which must not be in this clock's past."""
        if moment.tzinfo is None:
            raise ValueError("ManualClock needs timezone-aware datetimes")
        with self._lock:
            if moment < self._now:
                raise ValueError("time only moves forward")
            self._now = moment.astimezone(UTC)
            return self._now
