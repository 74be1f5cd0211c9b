"""usage_series: a range's spending per UTC day or hour, zero days included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from creditkit import CreditKit, InvalidRequest, ManualClock
from creditkit.usage import Granularity

START = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)  # the clock fixture's start (conftest)
MIDNIGHT = datetime(2026, 1, 15, tzinfo=UTC)


def test_one_point_per_day_with_the_quiet_days_at_zero(kit: CreditKit, clock: ManualClock) -> None:
    kit.charge("u1", 3, idempotency_key="d0")
    clock.set(MIDNIGHT + timedelta(days=2))  # exactly midnight: the third day's
    kit.charge("u1", 4, idempotency_key="d2-a")
    clock.advance(hours=23, minutes=59)
    kit.charge("u1", 5, idempotency_key="d2-b")
    series = kit.usage_series("u1", start=MIDNIGHT, end=MIDNIGHT + timedelta(days=4))
    assert series.granularity is Granularity.DAY
    assert [(point.start.day, point.spent, point.charges) for point in series.points] == [
        (15, 3, 1),
        (16, 0, 0),
        (17, 9, 2),
        (18, 0, 0),
    ]
    assert (series.spent, series.charges) == (12, 3)
    assert all(point.end - point.start == timedelta(days=1) for point in series.points)


def test_a_range_off_midnight_cuts_its_first_and_last_days(
    kit: CreditKit, clock: ManualClock
) -> None:
    kit.charge("u1", 3, idempotency_key="at-ten")  # 10:00, before the range starts
    clock.advance(hours=2)
    kit.charge("u1", 4, idempotency_key="at-noon")
    start, end = START + timedelta(hours=1), START + timedelta(days=1, hours=1)
    series = kit.usage_series("u1", start=start, end=end)
    assert [(point.start, point.end, point.spent) for point in series.points] == [
        (start, MIDNIGHT + timedelta(days=1), 4),
        (MIDNIGHT + timedelta(days=1), end, 0),
    ]


def test_hours(kit: CreditKit, clock: ManualClock) -> None:
    kit.charge("u1", 3, idempotency_key="h0")
    clock.advance(hours=2, minutes=30)
    kit.charge("u1", 4, idempotency_key="h2")
    series = kit.usage_series("u1", start=START, end=START + timedelta(hours=3), granularity="hour")
    assert [point.spent for point in series.points] == [3, 0, 4]


def test_a_year_of_days_at_most(kit: CreditKit) -> None:
    year = kit.usage_series("u1", start=MIDNIGHT, end=MIDNIGHT + timedelta(days=366))
    assert len(year.points) == 366
    with pytest.raises(InvalidRequest) as refused:
        kit.usage_series("u1", start=MIDNIGHT, end=MIDNIGHT + timedelta(days=366, seconds=1))
    assert refused.value.field == "end"
    assert "367 days" in refused.value.reason


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"end": MIDNIGHT}, "end"),
        ({"end": MIDNIGHT - timedelta(days=1)}, "end"),
        ({"start": MIDNIGHT.replace(tzinfo=None)}, "start"),
        ({"end": "tomorrow"}, "end"),
        ({"granularity": "week"}, "granularity"),
        ({"unit": "gold"}, "unit"),
    ],
)
def test_a_bad_range_names_the_field(
    kit: CreditKit, options: dict[str, object], field: str
) -> None:
    arguments: dict[str, object] = {
        "start": MIDNIGHT,
        "end": MIDNIGHT + timedelta(days=1),
        **options,
    }
    with pytest.raises(InvalidRequest) as refused:
        kit.usage_series("u1", **arguments)  # type: ignore[arg-type]
    assert refused.value.field == field
