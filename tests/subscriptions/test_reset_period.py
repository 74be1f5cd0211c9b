"""``reset_period``: an operator ends a customer's allowance period now (OpenMeter's manual reset
of a usage period). Idempotent, in the history with its reason, the ledger's audit clean."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from creditkit import CreditKit, IdempotencyConflict, InvalidRequest, ManualClock
from creditkit.catalog import parse_catalog

START = datetime(2026, 3, 4, 15, 30, tzinfo=UTC)
CATALOG = """
units: {credits: {scale: 0}}
plans:
  free: {name: Free, default: true, rank: 0}
  pro:
    name: Pro
    rank: 1
    prices: {month: {amount: 1000, currency: USD}}
    allowance: {amount: 100, unit: credits, period: week, rollover: {fraction: "0.5"}}
    overage: {unit: credits, spend_limit: 100, carry: debt}
    limits: {posts: {per_period: 2, period: week}}
"""


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def kit(make_kit: Callable[..., CreditKit]) -> CreditKit:
    kit = make_kit(catalog=parse_catalog(CATALOG))
    kit.create_customer("c")
    kit.subscribe("c", "pro", collected_elsewhere=True)
    return kit


def test_a_reset_starts_a_new_period_now(kit: CreditKit, clock: ManualClock) -> None:
    clock.advance(days=2)
    kit.charge("c", 40, idempotency_key="c1")
    for index in range(2):
        kit.track("c", "posts", idempotency_key=f"p{index}")
    assert not kit.track("c", "posts", idempotency_key="p2").allowed
    before = kit.subscription("c")
    reset_at = clock()

    after = kit.reset_period("c", reason="support ticket 42", idempotency_key="reset-1")

    assert (after.allowance_period_start, after.allowance_period_end) == (
        reset_at,
        reset_at + timedelta(days=7),
    )
    assert before is not None
    assert (after.current_period_start, after.current_period_end) == (
        before.current_period_start,
        before.current_period_end,
    )
    assert kit.balance("c").available == 130  # a new 100, and half of the 60 left rolled over
    assert kit.track("c", "posts", idempotency_key="p3").allowed  # the counter starts again
    resets = [item for item in kit.history("c").items if item.kind.value == "period_reset"]
    assert len(resets) == 1
    assert resets[0].amount == 30  # what the rollover did not carry expired
    assert resets[0].metadata["reason"] == "support ticket 42"
    # Due work follows the new period: it ends a week after the reset.
    clock.set(reset_at + timedelta(days=7) - timedelta(seconds=1))
    assert kit.balance("c").available == 130
    clock.advance(seconds=1)
    assert kit.balance("c").available == 165
    assert kit.audit().ok


def test_the_same_key_again_changes_nothing(kit: CreditKit, clock: ManualClock) -> None:
    clock.advance(days=1)
    first = kit.reset_period("c", reason="r", idempotency_key="reset-1")
    balance = kit.balance("c").available
    clock.advance(hours=1)
    again = kit.reset_period("c", reason="r", idempotency_key="reset-1")
    assert again == first
    assert kit.balance("c").available == balance
    kinds = [item.kind.value for item in kit.history("c").items]
    assert kinds.count("period_reset") == 1
    with pytest.raises(IdempotencyConflict):
        kit.grant("c", 5, idempotency_key="reset-1")
    kit.grant("c", 5, idempotency_key="g1")
    with pytest.raises(IdempotencyConflict):
        kit.reset_period("c", reason="r", idempotency_key="g1")
    assert kit.audit().ok


def test_overage_is_carried_at_a_reset(kit: CreditKit, clock: ManualClock) -> None:
    kit.charge("c", 150, idempotency_key="c1")
    clock.advance(hours=3)
    kit.reset_period("c", reason="r", idempotency_key="reset-1")
    balance = kit.balance("c")
    assert (balance.available, balance.debt, balance.overage_available) == (50, 0, 100)
    assert kit.audit().ok


def test_refusals_name_the_field(make_kit: Callable[..., CreditKit]) -> None:
    kit = make_kit(catalog=parse_catalog(CATALOG))
    kit.create_customer("d")  # on the default plan, which has no allowance
    with pytest.raises(InvalidRequest) as no_allowance:
        kit.reset_period("d", reason="r", idempotency_key="k1")
    assert no_allowance.value.field == "customer"
    kit.subscribe("d", "pro", collected_elsewhere=True)
    with pytest.raises(InvalidRequest) as blank:
        kit.reset_period("d", reason="", idempotency_key="k2")
    assert blank.value.field == "reason"
    assert [item.kind.value for item in kit.history("d").items].count("period_reset") == 0


def test_a_reset_at_the_instant_the_period_began(kit: CreditKit, clock: ManualClock) -> None:
    """Right after subscribing, the clock unmoved: the new period's allowance is its own grant;
    a second reset at that same instant is refused, naming the customer."""
    kit.charge("c", 10, idempotency_key="c1")
    kit.reset_period("c", reason="r", idempotency_key="reset-1")
    assert kit.balance("c").available == 100 + 45  # new 100; half of 90 rolled over
    with pytest.raises(InvalidRequest) as again:
        kit.reset_period("c", reason="r", idempotency_key="reset-2")
    assert again.value.field == "customer"
    clock.advance(seconds=1)
    kit.reset_period("c", reason="r", idempotency_key="reset-3")
    assert kit.audit().ok
