"""``ManualClock.advance`` moves by a ``timedelta`` or by ``timedelta``'s keywords, alike, and
never backward."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from creditkit import ManualClock

START = datetime(2026, 1, 1, tzinfo=UTC)


def test_advance_takes_a_timedelta() -> None:
    clock = ManualClock(START)
    assert clock.advance(timedelta(days=10)) == START + timedelta(days=10)
    assert clock() == START + timedelta(days=10)


def test_advance_takes_keywords() -> None:
    clock = ManualClock(START)
    assert clock.advance(days=10, hours=2) == START + timedelta(days=10, hours=2)


def test_both_forms_move_alike() -> None:
    by_delta, by_keywords = ManualClock(START), ManualClock(START)
    for step in (timedelta(seconds=1), timedelta(days=31), timedelta(0)):
        assert by_delta.advance(step) == by_keywords.advance(seconds=step.total_seconds())


@pytest.mark.parametrize(
    "backward", [lambda c: c.advance(timedelta(days=-1)), lambda c: c.advance(days=-1)]
)
def test_time_never_moves_backward(backward: Callable[[ManualClock], object]) -> None:
    clock = ManualClock(START)
    with pytest.raises(ValueError, match="forward"):
        backward(clock)
    assert clock() == START


def test_a_wrong_argument_says_what_advance_takes() -> None:
    clock = ManualClock(START)
    with pytest.raises(TypeError, match="timedelta or keywords"):
        clock.advance(timedelta(days=1), hours=1)
    with pytest.raises(TypeError, match="takes a timedelta, not int"):
        clock.advance(10)  # type: ignore[arg-type]
    assert clock() == START
