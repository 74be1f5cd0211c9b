"""Pay-as-you-go overage (seed 000): once grants run out, charges go on up to the plan's spend
limit per period; the period's close bills what was used, priced once on the total."""

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from creditkit import ChargeRequest, CreditKit, InsufficientCredits, ManualClock, Money
from creditkit.catalog import parse_catalog

SEED_000 = Path(__file__).parents[2] / "examples" / "seed_000_social_platform" / "catalog.yaml"
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
    kit = make_kit(catalog=parse_catalog(CAPPED))
    kit.create_customer("m")
    kit.subscribe("m", "metered", collected_elsewhere=True)
    kit.charge("m", kit.balance("m").available, idempotency_key="use-grants")
    return kit


def test_charges_go_into_overage_up_to_the_spend_limit(metered: CreditKit) -> None:
    assert metered.balance("m").overage_available == 100
    metered.charge("m", 60, idempotency_key="c1")
    balance = metered.balance("m")
    assert (balance.available, balance.overage_available, balance.unlimited) == (0, 40, False)
    with pytest.raises(InsufficientCredits) as short:
        metered.charge("m", 41, idempotency_key="c2")
    assert (short.value.available, short.value.required) == (40, 41)
    metered.charge("m", 40, idempotency_key="c3")
    assert metered.audit().ok


def test_a_batch_shares_one_headroom(metered: CreditKit) -> None:
    outcomes = metered.charge_many([ChargeRequest("m", 60, f"b{n}") for n in range(3)])
    assert [type(outcome).__name__ for outcome in outcomes] == [
        "Charge",
        "InsufficientCredits",
        "InsufficientCredits",
    ]


def test_a_released_hold_gives_its_overage_back(metered: CreditKit) -> None:
    hold = metered.reserve("m", 90, idempotency_key="r1")
    assert metered.balance("m").overage_available == 10
    metered.release(hold.id, idempotency_key="r1-x")
    assert metered.balance("m").overage_available == 100
    assert metered.audit().ok


def test_the_period_close_bills_the_overage_once(metered: CreditKit, clock: ManualClock) -> None:
    metered.charge("m", 61, idempotency_key="c1")
    subscription = metered.subscription("m")
    assert subscription is not None
    clock.set(subscription.current_period_end)
    metered.tick()
    overage = [line for line in metered.billing_lines("m") if line.kind == "overage"]
    assert [line.amount for line in overage] == [Money(31, "USD")]  # 61 x 0.5c, half up
    assert metered.balance("m").overage_available == 100  # a new period, a new limit
    metered.tick()
    assert len([line for line in metered.billing_lines("m") if line.kind == "overage"]) == 1


def test_uncapped_pay_as_you_go(make_kit: Callable[..., CreditKit], clock: ManualClock) -> None:
    kit = make_kit(catalog=SEED_000)
    kit.create_customer("creator")
    kit.subscribe("creator", "premium", collected_elsewhere=True)
    kit.charge("creator", 2000 + 5000, idempotency_key="big")  # 2,000 allowance + 5,000 post-pay
    assert kit.balance("creator").unlimited
    subscription = kit.subscription("creator")
    assert subscription is not None
    clock.set(subscription.current_period_end)
    lines = [line for line in kit.billing_lines("creator") if line.kind == "overage"]
    assert [line.amount for line in lines] == [Money(2500, "USD")]  # $5 per 1,000
    assert kit.audit().ok


def test_the_free_plan_has_no_overage(make_kit: Callable[..., CreditKit]) -> None:
    kit = make_kit(catalog=SEED_000)
    kit.create_customer("newbie")
    with pytest.raises(InsufficientCredits) as short:
        kit.charge("newbie", 51, idempotency_key="c1")
    assert short.value.available == 50
