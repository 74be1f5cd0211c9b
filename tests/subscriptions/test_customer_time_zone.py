"""A customer's own time zone: calendar-anchored allowance and counter periods follow the zone
the customer states, else the plan's, else UTC; a change of zone takes effect at the end of the
period in force, with no period skipped or granted twice."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from creditkit import CreditKit, ManualClock
from creditkit.catalog import parse_catalog
from creditkit.errors import IdempotencyConflict, InvalidRequest, UnknownCustomer

START = datetime(2026, 3, 4, 15, 30, tzinfo=UTC)  # 16:30 in Paris, 00:30 on the 5th in Tokyo
PARIS_MIDNIGHT = datetime(2026, 3, 4, 23, tzinfo=UTC)  # UTC+1 in March before the 29th
TOKYO_MIDNIGHT = datetime(2026, 3, 5, 15, tzinfo=UTC)  # UTC+9: midnight starting the 6th

KitFactory = Callable[..., CreditKit]

CATALOG = """
units: {credits: {scale: 0}}
plans:
  free: {name: Free, default: true, rank: 0}
  pro:
    name: Pro
    rank: 1
    prices: {month: {amount: 1000, currency: USD}}
    allowance: {amount: 10, unit: credits, period: day, anchor: calendar, time_zone: Europe/Paris}
    limits: {posts: {per_period: 2, period: day, anchor: calendar, time_zone: Europe/Paris}}
"""


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


def pro_kit(make_kit: KitFactory) -> CreditKit:
    return make_kit(catalog=parse_catalog(CATALOG))


def subscribed(kit: CreditKit, customer: str, time_zone: str | None = None) -> None:
    kit.create_customer(customer, time_zone=time_zone)
    kit.subscribe(customer, "pro", collected_elsewhere=True)


def allowance_end(kit: CreditKit, customer: str) -> datetime:
    subscription = kit.subscription(customer)
    assert subscription is not None and subscription.allowance_period_end is not None
    return subscription.allowance_period_end


def counter_end(kit: CreditKit, customer: str) -> datetime | None:
    (posts,) = [usage for usage in kit.usage_of_limits(customer) if usage.name == "posts"]
    return posts.period_end


def allowance_grants(kit: CreditKit, customer: str) -> int:
    page = kit.history(customer, kinds=["grant"], limit=200)
    assert page.next_cursor is None
    return len(page.items)


def test_the_customers_zone_wins_over_the_plans(make_kit: KitFactory, clock: ManualClock) -> None:
    """A daily allowance on the calendar of Paris, for a customer in Tokyo: it resets at
    midnight in Tokyo, and so does the daily counter."""
    kit = pro_kit(make_kit)
    subscribed(kit, "tokyo", "Asia/Tokyo")
    assert kit.customer("tokyo").time_zone == "Asia/Tokyo"
    assert allowance_end(kit, "tokyo") == TOKYO_MIDNIGHT
    assert counter_end(kit, "tokyo") == TOKYO_MIDNIGHT
    kit.charge("tokyo", 4, idempotency_key="t1")
    clock.set(PARIS_MIDNIGHT)
    assert kit.balance("tokyo").available == 6  # Paris's midnight is nothing in Tokyo
    clock.set(TOKYO_MIDNIGHT)
    assert kit.balance("tokyo").available == 10
    assert allowance_end(kit, "tokyo") == TOKYO_MIDNIGHT + timedelta(days=1)
    assert kit.audit().ok


def test_without_a_zone_the_plans_applies(make_kit: KitFactory) -> None:
    kit = pro_kit(make_kit)
    subscribed(kit, "paris")
    assert kit.customer("paris").time_zone is None
    assert allowance_end(kit, "paris") == PARIS_MIDNIGHT
    assert counter_end(kit, "paris") == PARIS_MIDNIGHT


def test_a_change_of_zone_keeps_the_period_in_force_then_follows_the_new_zone(
    make_kit: KitFactory, clock: ManualClock
) -> None:
    """Paris, then Tokyo mid-period: today's period still ends at Paris's midnight; the next one
    runs to Tokyo's midnight (a shorter day), then whole Tokyo days. Each period is granted
    once, whether the clock steps through every boundary or jumps past them all at once."""
    kit = pro_kit(make_kit)
    subscribed(kit, "stepping")
    subscribed(kit, "jumping")
    clock.set(START + timedelta(minutes=30))
    for customer in ("stepping", "jumping"):
        kit.set_time_zone(customer, "Asia/Tokyo", idempotency_key=f"zone-{customer}")
        assert allowance_end(kit, customer) == PARIS_MIDNIGHT
        assert counter_end(kit, customer) == PARIS_MIDNIGHT
    ends = []
    for day in range(4):
        end = allowance_end(kit, "stepping")
        ends.append(end)
        kit.charge("stepping", 4, idempotency_key=f"s{day}")
        clock.set(end)
        assert kit.balance("stepping").available == 10
    assert ends == [
        PARIS_MIDNIGHT,
        TOKYO_MIDNIGHT,
        TOKYO_MIDNIGHT + timedelta(days=1),
        TOKYO_MIDNIGHT + timedelta(days=2),
    ]
    assert counter_end(kit, "stepping") == TOKYO_MIDNIGHT + timedelta(days=3)
    assert kit.balance("jumping").available == 10
    assert allowance_end(kit, "jumping") == allowance_end(kit, "stepping")
    # The first period's grant, then one per period after it: four boundaries, five grants.
    assert allowance_grants(kit, "stepping") == allowance_grants(kit, "jumping") == 5
    assert kit.audit().ok


def test_setting_the_zone_is_idempotent(make_kit: KitFactory, clock: ManualClock) -> None:
    kit = pro_kit(make_kit)
    subscribed(kit, "c")
    assert kit.set_time_zone("c", "Asia/Tokyo", idempotency_key="z1").time_zone == "Asia/Tokyo"
    assert kit.set_time_zone("c", "Asia/Tokyo", idempotency_key="z1").time_zone == "Asia/Tokyo"
    with pytest.raises(IdempotencyConflict):
        kit.set_time_zone("c", "Europe/Paris", idempotency_key="z1")
    assert kit.set_time_zone("c", None, idempotency_key="z2").time_zone is None
    clock.set(PARIS_MIDNIGHT)
    assert allowance_end(kit, "c") == PARIS_MIDNIGHT + timedelta(days=1)  # back to the plan's
    assert kit.audit().ok


def test_an_unknown_zone_is_refused_naming_time_zone(make_kit: KitFactory) -> None:
    kit = pro_kit(make_kit)
    with pytest.raises(InvalidRequest) as refused:
        kit.create_customer("mars", time_zone="Mars/Olympus_Mons")
    assert refused.value.field == "time_zone"
    with pytest.raises(UnknownCustomer):
        kit.customer("mars")  # nothing half-written
    subscribed(kit, "c")
    for bad in ("Mars/Olympus_Mons", "", "../etc/passwd"):
        with pytest.raises(InvalidRequest) as refused:
            kit.set_time_zone("c", bad, idempotency_key=f"bad-{bad}")
        assert refused.value.field == "time_zone"
    assert kit.customer("c").time_zone is None
