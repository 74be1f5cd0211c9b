"""Overage follows reversals and late usage: in a period still open its close bills the
corrected total; in a period already billed a correction line is billed for it."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from creditkit import CreditKit, ManualClock, Money
from creditkit.catalog import parse_catalog

CAPPED = """
units: {credits: {scale: 0}}
plans:
  free: {name: Free, default: true, rank: 0, prices: {month: {amount: 0, currency: USD}},
         allowance: {amount: 5, unit: credits}}
  metered:
    name: Metered
    rank: 1
    prices: {month: {amount: 1000, currency: USD}}
    allowance: {amount: 20, unit: credits}
    overage: {unit: credits, price: {amount: 500, currency: USD, per: 1000}, spend_limit: 100}
"""


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 6, 1, tzinfo=UTC))


@pytest.fixture
def metered(make_kit: Callable[..., CreditKit]) -> CreditKit:
    kit = make_kit(catalog=parse_catalog(CAPPED), late_usage_window=timedelta(days=35))
    kit.create_customer("m")
    kit.subscribe("m", "metered", collected_elsewhere=True)
    kit.charge("m", kit.balance("m").available, idempotency_key="use-grants")
    return kit


def _overage(kit: CreditKit) -> list[tuple[Money, str]]:
    """The overage lines, oldest first."""
    lines = sorted(kit.billing_lines("m"), key=lambda line: line.id)
    return [(line.amount, line.description) for line in lines if line.kind == "overage"]


def test_a_reversal_in_the_open_period_lowers_what_its_close_bills(
    metered: CreditKit, clock: ManualClock
) -> None:
    metered.charge("m", 80, idempotency_key="c1")
    metered.reverse_charge("c1", 20, reason="over-counted", idempotency_key="r1")
    assert metered.balance("m").overage_available == 40
    subscription = metered.subscription("m")
    assert subscription is not None
    clock.set(subscription.current_period_end)
    metered.tick()
    assert [amount for amount, _ in _overage(metered)] == [Money(30, "USD")]  # 60 x 0.5c
    assert metered.audit().ok


def test_a_billed_period_gets_a_correction_line(metered: CreditKit, clock: ManualClock) -> None:
    metered.charge("m", 80, idempotency_key="c1")
    subscription = metered.subscription("m")
    assert subscription is not None
    period_end = subscription.current_period_end
    clock.set(period_end + timedelta(hours=2))
    metered.tick()
    assert [amount for amount, _ in _overage(metered)] == [Money(40, "USD")]
    # The charge's overage is given back after its period was billed: a credit for it.
    metered.reverse_charge("c1", 30, reason="cancelled", idempotency_key="r1")
    # Usage of the billed period reported late, beyond the new period's grants: billed too.
    metered.charge("m", metered.balance("m").available, idempotency_key="use-new-grants")
    metered.charge("m", 10, idempotency_key="late", occurred_at=period_end - timedelta(hours=1))
    lines = _overage(metered)
    assert [amount for amount, _ in lines] == [
        Money(40, "USD"),
        Money(-15, "USD"),
        Money(5, "USD"),
    ]
    assert all("correction" in description for _, description in lines[1:])
    # The open period does not bill them again.
    clock.set(metered.subscription("m").current_period_end)  # type: ignore[union-attr]
    metered.tick()
    assert [amount for amount, _ in _overage(metered)][3:] == []
    assert metered.audit().ok
