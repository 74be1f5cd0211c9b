"""Allowance and counter periods of every length, rollovers of every shape and overage carried as
debt, each against the peer whose semantics it matches (Autumn, OpenMeter, Lago, Metronome,
Polar's users)."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from creditkit import CreditKit, ManualClock
from creditkit.catalog import parse_catalog

START = datetime(2026, 3, 4, 15, 30, tzinfo=UTC)  # a Wednesday afternoon

KitFactory = Callable[..., CreditKit]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


def plan_kit(make_kit: KitFactory, allowance: str, extra: str = "") -> CreditKit:
    """A kit whose customer ``c`` is subscribed to ``pro``: monthly billing, ``allowance``."""
    kit = make_kit(
        catalog=parse_catalog(f"""
units: {{credits: {{scale: 0}}}}
plans:
  free: {{name: Free, default: true, rank: 0}}
  pro:
    name: Pro
    rank: 1
    prices: {{month: {{amount: 1000, currency: USD}}}}
    allowance: {allowance}
{extra}
""")
    )
    kit.create_customer("c")
    kit.subscribe("c", "pro", collected_elsewhere=True)
    return kit


def available(kit: CreditKit) -> int:
    return int(kit.balance("c").available)


# -- periods (Autumn's hour/day/week/month/quarter resets) ---------------------------------------

LENGTHS = {
    "hour": timedelta(hours=1),
    "day": timedelta(days=1),
    "week": timedelta(weeks=1),
}


@pytest.mark.parametrize("period", ["hour", "day", "week", "month", "quarter"])
def test_allowance_resets_every_period(
    make_kit: KitFactory, clock: ManualClock, period: str
) -> None:
    """Autumn: 100 credits an hour/day/week/month/quarter; what is left resets at each end."""
    kit = plan_kit(make_kit, f"{{amount: 100, unit: credits, period: {period}}}")
    first = kit.subscription("c")
    assert first is not None and first.allowance_period_start == START
    end = first.allowance_period_end
    assert end is not None
    expected_end = {
        "month": datetime(2026, 4, 4, 15, 30, tzinfo=UTC),
        "quarter": datetime(2026, 6, 4, 15, 30, tzinfo=UTC),
    }.get(period) or START + LENGTHS[period]
    assert end == expected_end
    kit.charge("c", 30, idempotency_key="c1")
    clock.set(end - timedelta(seconds=1))
    assert available(kit) == 70
    clock.set(end)
    assert available(kit) == 100
    second = kit.subscription("c")
    assert second is not None and second.allowance_period_start == end
    # The billing periods are months whatever the allowance's period.
    billing_ends = [datetime(2026, month, 4, 15, 30, tzinfo=UTC) for month in (4, 5, 6, 7)]
    assert second.current_period_end in billing_ends
    assert second.current_period_start <= end < second.current_period_end
    assert kit.audit().ok


@pytest.mark.parametrize("period", ["hour", "day", "week", "quarter"])
def test_per_period_counters_reset_on_their_own_period(
    make_kit: KitFactory, clock: ManualClock, period: str
) -> None:
    """A counter of 2 an hour/day/week/quarter: full at 2, free again at its period's end."""
    kit = plan_kit(
        make_kit,
        "{amount: 100, unit: credits}",
        f"    limits: {{posts: {{per_period: 2, period: {period}}}}}",
    )
    for index in range(2):
        assert kit.track("c", "posts", idempotency_key=f"p{index}").allowed
    assert not kit.track("c", "posts", idempotency_key="p2").allowed
    clock.set(START + LENGTHS.get(period, timedelta(days=92)) - timedelta(seconds=1))
    assert not kit.track("c", "posts", idempotency_key="p3").allowed
    clock.advance(seconds=1)
    assert kit.track("c", "posts", idempotency_key="p4").allowed


def test_a_daily_usage_period_on_the_calendar_of_a_time_zone(
    make_kit: KitFactory, clock: ManualClock
) -> None:
    """OpenMeter's daily usage period: days start at midnight where the customer is (New York,
    UTC-5 in March before the 8th, UTC-4 after), whatever time they subscribed."""
    kit = plan_kit(
        make_kit,
        "{amount: 10, unit: credits, period: day, anchor: calendar, time_zone: America/New_York}",
    )
    ends = []
    for _day in range(5):
        subscription = kit.subscription("c")
        assert subscription is not None and subscription.allowance_period_end is not None
        ends.append(subscription.allowance_period_end)
        kit.charge("c", 4, idempotency_key=f"day-{len(ends)}")
        clock.set(subscription.allowance_period_end)
        assert available(kit) == 10
    assert ends == [
        datetime(2026, 3, 5, 5, tzinfo=UTC),
        datetime(2026, 3, 6, 5, tzinfo=UTC),
        datetime(2026, 3, 7, 5, tzinfo=UTC),
        datetime(2026, 3, 8, 5, tzinfo=UTC),
        datetime(2026, 3, 9, 4, tzinfo=UTC),  # a 23-hour day: clocks went forward
    ]


def test_weekly_and_quarterly_on_the_calendar(make_kit: KitFactory, clock: ManualClock) -> None:
    """Lago's weekly and quarterly recurring rules: weeks from Monday, quarters from the 1st of
    January, April, July and October; the first period is the rest of the current one."""
    weekly = plan_kit(make_kit, "{amount: 70, unit: credits, period: week, anchor: calendar}")
    subscription = weekly.subscription("c")
    assert subscription is not None
    assert subscription.allowance_period_end == datetime(2026, 3, 9, tzinfo=UTC)  # Monday
    clock.set(datetime(2026, 3, 9, tzinfo=UTC))
    subscription = weekly.subscription("c")
    assert subscription is not None
    assert subscription.allowance_period_end == datetime(2026, 3, 16, tzinfo=UTC)


def test_quarterly_on_the_calendar(make_kit: KitFactory, clock: ManualClock) -> None:
    kit = plan_kit(make_kit, "{amount: 300, unit: credits, period: quarter, anchor: calendar}")
    kit.charge("c", 100, idempotency_key="c1")
    clock.set(datetime(2026, 3, 31, 23, 59, tzinfo=UTC))
    assert available(kit) == 200  # three monthly renewals did not touch the quarter's credits
    clock.set(datetime(2026, 4, 1, tzinfo=UTC))
    assert available(kit) == 300
    subscription = kit.subscription("c")
    assert subscription is not None
    assert subscription.allowance_period_end == datetime(2026, 7, 1, tzinfo=UTC)


def test_a_grant_cycle_apart_from_the_billing_cycle(
    make_kit: KitFactory, clock: ManualClock
) -> None:
    """Polar's users (polar#7971): a yearly subscription granting credits every week; a fee
    once a year, an allowance every Monday."""
    kit = make_kit(
        catalog=parse_catalog("""
units: {credits: {scale: 0}}
plans:
  free: {name: Free, default: true, rank: 0}
  pro: {name: Pro, rank: 1, prices: {year: {amount: 10000, currency: USD}},
        allowance: {amount: 50, unit: credits, period: week, anchor: calendar}}
""")
    )
    kit.create_customer("c")
    kit.subscribe("c", "pro", interval="year", collected_elsewhere=True)
    clock.set(START + timedelta(days=60))
    assert available(kit) == 50
    lines = kit.billing_lines("c")
    assert len(lines) == 1  # the year's fee, once
    subscription = kit.subscription("c")
    assert subscription is not None
    assert subscription.current_period_end == datetime(2027, 3, 4, 15, 30, tzinfo=UTC)
    assert subscription.allowance_period_end == datetime(2026, 5, 4, tzinfo=UTC)


# -- rollovers ------------------------------------------------------------------------------------


def test_a_fraction_rolls_over(make_kit: KitFactory, clock: ManualClock) -> None:
    """Metronome's rollover_fraction 0.5: of 60 left, 30 carry."""
    kit = plan_kit(
        make_kit, '{amount: 100, unit: credits, period: week, rollover: {fraction: "0.5"}}'
    )
    kit.charge("c", 40, idempotency_key="c1")
    clock.advance(days=7)
    assert available(kit) == 130
    kit.charge("c", 129, idempotency_key="c2")  # the rolled 30 go first: they end first
    clock.advance(days=7)
    assert available(kit) == 100  # half of 1, rounded down, is nothing
    assert kit.audit().ok


def test_rolled_credits_expire_after_n_periods(make_kit: KitFactory, clock: ManualClock) -> None:
    """Autumn: with rolled credits expiring after one period, an unused 100 a month gives 200
    then 200 (creditkit's plain ``all`` rolls them again: 200 then 300)."""
    kit = plan_kit(
        make_kit, "{amount: 100, unit: credits, period: day, rollover: {expires_after_periods: 1}}"
    )
    seen = []
    for _day in range(3):
        clock.advance(days=1)
        seen.append(available(kit))
    assert seen == [200, 200, 200]
    assert kit.audit().ok


def test_plain_all_rolls_again(make_kit: KitFactory, clock: ManualClock) -> None:
    kit = plan_kit(make_kit, "{amount: 100, unit: credits, period: day, rollover: all}")
    seen = []
    for _day in range(2):
        clock.advance(days=1)
        seen.append(available(kit))
    assert seen == [200, 300]


def test_rolled_credits_last_k_periods(make_kit: KitFactory, clock: ManualClock) -> None:
    """Two periods: day 1's unused 100 count on days 2 and 3, gone on day 4."""
    kit = plan_kit(
        make_kit, "{amount: 100, unit: credits, period: day, rollover: {expires_after_periods: 2}}"
    )
    seen = []
    for _day in range(3):
        clock.advance(days=1)
        seen.append(available(kit))
    assert seen == [200, 300, 300]


@pytest.mark.parametrize(("used", "next_period"), [(100, 120), (70, 130), (0, 150)])
def test_per_grant_minimum_and_maximum(
    make_kit: KitFactory, clock: ManualClock, used: int, next_period: int
) -> None:
    """OpenMeter's per-grant minRolloverAmount and maxRolloverAmount: each period's grant
    carries what is left, at least 20 (topped up) and at most 50."""
    kit = plan_kit(
        make_kit,
        "{amount: 100, unit: credits, period: week,"
        " rollover: {min_per_grant: 20, max_per_grant: 50}}",
    )
    if used:
        kit.charge("c", used, idempotency_key="c1")
    clock.advance(days=7)
    assert available(kit) == next_period
    assert kit.audit().ok


def test_a_cap_bounds_the_fraction(make_kit: KitFactory, clock: ManualClock) -> None:
    kit = plan_kit(
        make_kit, '{amount: 100, unit: credits, period: day, rollover: {fraction: "0.8", cap: 50}}'
    )
    clock.advance(days=1)
    assert available(kit) == 150


# -- overage carried as debt ----------------------------------------------------------------------


def test_overage_is_carried_into_the_next_period(make_kit: KitFactory, clock: ManualClock) -> None:
    """OpenMeter's preserveOverageAtReset: 500 a period, 600 used: the next period starts at 400
    (creditkit without the option starts it at 500 and bills the 100 in money)."""
    kit = plan_kit(
        make_kit,
        "{amount: 500, unit: credits, period: week}",
        "    overage: {unit: credits, spend_limit: 1000, carry: debt}",
    )
    kit.charge("c", 600, idempotency_key="c1")
    assert kit.balance("c").overage_available == 900
    clock.advance(days=7)
    balance = kit.balance("c")
    assert (balance.available, balance.debt, balance.overage_available) == (400, 0, 1000)
    assert "overage" not in [line.kind.value for line in kit.billing_lines("c")]
    kinds = [item.kind.value for item in kit.history("c").items]
    assert kinds.count("overage_carry") == 1 and kinds.count("debt_repayment") == 1
    assert kit.audit().ok


def test_a_carried_overage_larger_than_the_allowance_stays_owed(
    make_kit: KitFactory, clock: ManualClock
) -> None:
    kit = plan_kit(
        make_kit,
        "{amount: 100, unit: credits, period: day}",
        "    overage: {unit: credits, spend_limit: unlimited, carry: debt}",
    )
    kit.charge("c", 350, idempotency_key="c1")
    clock.advance(days=1)
    balance = kit.balance("c")
    assert (balance.available, balance.debt) == (0, 150)
    clock.advance(days=1)
    balance = kit.balance("c")
    assert (balance.available, balance.debt) == (0, 50)
    clock.advance(days=1)
    assert (kit.balance("c").available, kit.balance("c").debt) == (50, 0)
    assert kit.audit().ok
