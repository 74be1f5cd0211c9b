from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from creditkit.subscriptions.periods import add_months, period_bounds, period_index_at


def at(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, 12, 0, tzinfo=UTC)


def test_anniversary_clamps_to_month_end_then_returns() -> None:
    anchor = at(2026, 1, 31)
    assert [add_months(anchor, n).date().isoformat() for n in range(4)] == [
        "2026-01-31",
        "2026-02-28",
        "2026-03-31",
        "2026-04-30",
    ]
    assert add_months(at(2028, 1, 31), 1).day == 29  # leap year
    assert add_months(at(2026, 2, 28), 1).day == 28  # anchored on the 28th stays there


def test_yearly_from_leap_day() -> None:
    anchor = at(2028, 2, 29)
    assert add_months(anchor, 12).date().isoformat() == "2029-02-28"
    assert add_months(anchor, 48).date().isoformat() == "2032-02-29"


def test_period_ends_belong_to_the_next_period() -> None:
    anchor = at(2026, 1, 31)
    start, end = period_bounds(anchor, 1, 1)
    assert (start, end) == (at(2026, 2, 28), at(2026, 3, 31))
    assert period_index_at(anchor, 1, end - timedelta(microseconds=1)) == 1
    assert period_index_at(anchor, 1, end) == 2


@given(
    anchor=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
    months=st.sampled_from([1, 12]),
    offset_days=st.integers(min_value=0, max_value=3650),
)
def test_every_moment_falls_in_exactly_the_period_that_contains_it(
    anchor: datetime, months: int, offset_days: int
) -> None:
    moment = anchor + timedelta(days=offset_days)
    index = period_index_at(anchor, months, moment)
    start, end = period_bounds(anchor, months, index)
    assert start <= moment < end
