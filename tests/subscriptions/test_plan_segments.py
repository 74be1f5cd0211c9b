"""Each stretch of a period under one plan is billed at that plan's terms when it closes (a plan
change, a cancel, the period's end); an upgrade that changes the interval honours
``allowance_on_upgrade``; a trial's status ends with the trial."""

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from creditkit import CreditKit, ManualClock, Money
from creditkit.catalog import parse_catalog

MakeKit = Callable[..., CreditKit]

CATALOG = """
units: {credits: {scale: 0}}
plans:
  free:
    name: Free
    default: true
    rank: 0
    prices: {month: {amount: 0, currency: USD}}
    allowance: {amount: 100, unit: credits}
    overage: {unit: credits, price: {amount: 10, currency: USD}, spend_limit: unlimited}
  pro:
    name: Pro
    rank: 1
    prices: {month: {amount: 2000, currency: USD}, year: {amount: 20000, currency: USD}}
    allowance: {amount: 500, unit: credits}
  metered:
    name: Metered
    rank: 2
    prices: {month: {amount: 3000, currency: USD}}
    allowance: {amount: 100, unit: credits}
    overage: {unit: credits, price: {amount: 5, currency: USD}, spend_limit: unlimited}
"""


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 1, 15, tzinfo=UTC))


@pytest.fixture
def kit(make_kit: MakeKit) -> CreditKit:
    kit = make_kit(catalog=parse_catalog(CATALOG))
    kit.create_customer("c")
    return kit


def overage_lines(kit: CreditKit) -> list[tuple[str, Money]]:
    return [
        (line.description, line.amount)
        for line in reversed(kit.billing_lines("c"))
        if line.kind == "overage"
    ]


def use_150_then(kit: CreditKit, clock: ManualClock, change: Callable[[], object]) -> None:
    kit.charge("c", 150, idempotency_key="use")  # 100 from the allowance, 50 of overage
    clock.set(datetime(2026, 1, 25, tzinfo=UTC))
    change()
    clock.set(datetime(2026, 3, 16, tzinfo=UTC))
    kit.tick()


OWED_ON_FREE = [("50 credits of overage on Free", Money(500, "USD"))]


def test_an_upgrade_bills_the_overage_at_the_old_plans_rate(
    kit: CreditKit, clock: ManualClock
) -> None:
    use_150_then(kit, clock, lambda: kit.change_plan("c", "pro"))
    assert overage_lines(kit) == OWED_ON_FREE
    assert kit.audit().ok


def test_an_upgrade_to_a_cheaper_overage_keeps_the_old_rate_for_old_usage(
    kit: CreditKit, clock: ManualClock
) -> None:
    kit.charge("c", 150, idempotency_key="use")
    clock.set(datetime(2026, 1, 25, tzinfo=UTC))
    kit.change_plan("c", "metered")  # 5c overage from now on; the same allowance
    kit.charge("c", 110, idempotency_key="use-on-metered")
    clock.set(datetime(2026, 3, 16, tzinfo=UTC))
    kit.tick()
    assert overage_lines(kit) == [
        *OWED_ON_FREE,
        ("110 credits of overage on Metered", Money(550, "USD")),
    ]


def test_an_upgrade_that_changes_the_interval_bills_the_overage(
    kit: CreditKit, clock: ManualClock
) -> None:
    use_150_then(kit, clock, lambda: kit.change_plan("c", "pro", interval="year"))
    assert overage_lines(kit) == OWED_ON_FREE


def test_a_cancel_now_bills_the_overage(kit: CreditKit, clock: ManualClock) -> None:
    kit.change_plan("c", "metered")
    kit.charge("c", 150, idempotency_key="use")  # 50 of overage on Metered
    clock.set(datetime(2026, 1, 25, tzinfo=UTC))
    kit.cancel("c", at_period_end=False)
    clock.set(datetime(2026, 3, 16, tzinfo=UTC))
    kit.tick()
    assert overage_lines(kit) == [("50 credits of overage on Metered", Money(250, "USD"))]


@pytest.mark.parametrize(("mode", "expected"), [("none", 40), ("difference", 440), ("full", 540)])
def test_an_upgrade_with_an_interval_change_honours_allowance_on_upgrade(
    kit: CreditKit, clock: ManualClock, mode: str, expected: int
) -> None:
    kit.charge("c", 60, idempotency_key="use")
    clock.set(datetime(2026, 1, 25, tzinfo=UTC))
    kit.change_plan("c", "pro", interval="year", allowance_on_upgrade=mode)
    assert kit.balance("c").available == expected
    assert kit.audit().ok


def test_a_trial_is_over_when_it_ends(kit: CreditKit, clock: ManualClock) -> None:
    subscription = kit.subscribe("c", "pro", trial_days=14, collected_elsewhere=True)
    assert subscription.status == "trialing"
    assert subscription.trial_ends_at == datetime(2026, 1, 29, tzinfo=UTC)
    clock.set(datetime(2026, 1, 28, 23, 59, tzinfo=UTC))
    assert kit.subscription("c").status == "trialing"  # type: ignore[union-attr]
    clock.set(datetime(2026, 1, 30, tzinfo=UTC))
    assert kit.subscription("c").status == "active"  # type: ignore[union-attr]
