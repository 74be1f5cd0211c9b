"""Seed 000's "Pay with Credits": a plan paid from the balance at its price in credits, each
period, before that period's allowance is granted."""

from collections.abc import Callable
from pathlib import Path

import pytest

from creditkit import CreditKit, InsufficientCredits, InvalidRequest, ManualClock

SEED_000 = Path(__file__).parents[2] / "examples" / "seed_000_social_platform" / "catalog.yaml"


@pytest.fixture
def social(make_kit: Callable[..., CreditKit]) -> CreditKit:
    kit = make_kit(catalog=SEED_000)
    kit.create_customer("ada")
    return kit


def test_a_balance_that_cannot_pay_is_refused_and_nothing_changes(social: CreditKit) -> None:
    with pytest.raises(InsufficientCredits) as short:
        social.subscribe("ada", "premium", pay_with="credits")
    assert (short.value.available, short.value.required) == (50, 2400)
    subscription = social.subscription("ada")
    assert subscription is not None
    assert (subscription.plan, subscription.pay_with) == ("free", "money")
    assert social.balance("ada").available == 50


def test_the_fee_is_paid_before_the_allowance_is_granted(social: CreditKit) -> None:
    social.grant("ada", 3000, idempotency_key="topup")
    subscription = social.subscribe("ada", "premium", pay_with="credits")
    assert (subscription.plan, subscription.pay_with) == ("premium", "credits")
    assert social.balance("ada").available == 50 + 3000 - 2400 + 2000
    assert social.billing_lines("ada") == ()  # nothing owed in money
    paid = social.history("ada").items[1]
    assert (paid.kind, paid.action, paid.amount) == ("charge", "plan:premium", 2400)


def test_renewal_pays_again_or_falls_back_to_the_default_plan(
    social: CreditKit, clock: ManualClock
) -> None:
    social.grant("ada", 5000, idempotency_key="topup")
    social.subscribe("ada", "premium", pay_with="credits")
    first = social.subscription("ada")
    assert first is not None
    clock.set(first.current_period_end)  # 50 + 5000 - 2400 = 2650 purchased left: pays again
    second = social.subscription("ada")
    assert second is not None and (second.plan, second.pay_with) == ("premium", "credits")
    assert social.balance("ada").available == 2650 - 2400 + 2000
    clock.set(second.current_period_end)  # 250 left: cannot pay
    third = social.subscription("ada")
    assert third is not None and (third.plan, third.pay_with) == ("free", "money")
    assert social.balance("ada").available == 250 + 50
    assert social.audit().ok


def test_plans_without_a_credit_price_cannot_be_paid_in_credits(social: CreditKit) -> None:
    with pytest.raises(InvalidRequest) as refused:
        social.subscribe("ada", "free", pay_with="credits")
    assert refused.value.field == "pay_with"
    with pytest.raises(InvalidRequest) as refused:
        social.subscribe("ada", "premium", pay_with="gold")
    assert refused.value.field == "pay_with"
