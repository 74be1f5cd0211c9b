"""A client's waits, recorded, moving the test's ManualClock instead of sleeping."""

from __future__ import annotations

from creditkit import ManualClock


class Waits(list[float]):
    """The client's waits, recorded; each moves the clock on by as long."""

    def __init__(self, clock: ManualClock) -> None:
        super().__init__()
        self._clock = clock

    def __call__(self, seconds: float) -> None:
        self.append(seconds)
        self._clock.advance(seconds=seconds)
