"""Time is an input (the rule of that name, docs/rules.md): every operation reads ``now`` from a
clock, so tests move time instead of sleeping."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from creditkit.errors import InvalidRequest

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


def checked_clock(clock: Clock) -> Clock:
    """``clock`` as every part of the engine reads it: an aware datetime, in UTC. A clock that
    returns anything else raises ``InvalidRequest`` naming ``clock``, at the read."""

    def now() -> datetime:
        moment = clock()
        if not isinstance(moment, datetime) or moment.tzinfo is None:
            raise InvalidRequest("clock", "must return a timezone-aware datetime")
        return moment.astimezone(UTC)

    return now


class ManualClock:
    """A clock that stands still until told to move; for tests and simulations.

    >>> clock = ManualClock(datetime(2026, 1, 31, tzinfo=UTC))
    >>> clock.advance(days=1)
    datetime.datetime(2026, 2, 1, 0, 0, tzinfo=datetime.timezone.utc)
    >>> clock.advance(timedelta(hours=12))
    datetime.datetime(2026, 2, 1, 12, 0, tzinfo=datetime.timezone.utc)
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

    def advance(self, delta: timedelta | None = None, /, **units: float) -> datetime:
        """Moves forward by ``delta`` (``advance(timedelta(days=10))``) or by ``timedelta``'s
        keywords (``advance(days=10)``), never backward, and returns the new now."""
        if delta is not None and units:
            raise TypeError("advance takes a timedelta or keywords, not both")
        if delta is not None and not isinstance(delta, timedelta):
            raise TypeError(f"advance takes a timedelta, not {type(delta).__name__}")
        step = timedelta(**units) if delta is None else delta
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


#: A clock file holds one ISO 8601 time; more than this is not one.
CLOCK_FILE_BYTES_MAX = 64


class FileClock:
    """The time written in a file (ISO 8601 with its offset, e.g. ``2026-03-01T00:00:00+00:00``),
    read at every call, never moving backward. For rehearsals and end-to-end tests of a served
    creditkit (``clock_file``): its processes cannot share a ``ManualClock``, so time moves for
    all of them when the file is rewritten. A file missing or not a time raises
    ``InvalidRequest`` naming ``clock_file``, at construction too."""

    def __init__(self, path: str) -> None:
        self._path = Path(path)
        self._last: datetime | None = None
        self._lock = threading.Lock()
        self()

    def __call__(self) -> datetime:
        try:
            with self._path.open("rb") as file:
                text = file.read(CLOCK_FILE_BYTES_MAX + 1)
        except OSError as error:
            raise InvalidRequest(
                "clock_file", f"cannot read {self._path}: {error.strerror}"
            ) from None
        try:
            if len(text) > CLOCK_FILE_BYTES_MAX:
                raise ValueError(text)
            moment = datetime.fromisoformat(text.decode().strip())
        except (UnicodeDecodeError, ValueError):
            raise InvalidRequest(
                "clock_file", f"{self._path} must hold one ISO 8601 time with its offset"
            ) from None
        if moment.tzinfo is None:
            raise InvalidRequest("clock_file", f"{self._path} must give the time's offset (+00:00)")
        with self._lock:
            if self._last is not None and moment < self._last:
                return self._last  # time only moves forward, whatever the file says
            self._last = moment.astimezone(UTC)
            return self._last
