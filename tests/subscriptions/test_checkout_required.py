"""A plan priced in money starts only where someone collects it: the engine's rule, so that the
embedded kit, the HTTP API and the client refuse the same subscription the same way."""

from collections.abc import Callable
from pathlib import Path

import pytest

from creditkit import CheckoutRequired, CreditKit, InvalidRequest

EXAMPLES = Path(__file__).parents[2] / "examples"
SEED_002 = EXAMPLES / "seed_002_devops_agent" / "catalog.yaml"


@pytest.fixture
def devops(make_kit: Callable[..., CreditKit]) -> CreditKit:
    kit = make_kit(catalog=SEED_002)
    kit.create_customer("dev")
    return kit


def test_a_priced_plan_nobody_collects_is_refused_and_nothing_is_written(
    devops: CreditKit,
) -> None:
    with pytest.raises(CheckoutRequired) as refused:
        devops.subscribe("dev", "starter")
    error = refused.value
    assert (error.customer, error.plan, error.interval) == ("dev", "starter", "month")
    assert (error.amount_minor, error.currency) == (1900, "USD")
    assert error.code == "checkout_required"
    assert devops.plan_of("dev").id == "free"
    assert devops.billing_lines("dev") == ()


def test_a_plan_the_app_collects_or_that_costs_nothing_starts(devops: CreditKit) -> None:
    assert devops.subscribe("dev", "free").plan == "free"
    subscribed = devops.subscribe("dev", "starter", collected_elsewhere=True)
    assert subscribed.plan == "starter"
    assert [line.amount.amount_minor for line in devops.billing_lines("dev")] == [1900]


def test_the_flag_is_a_bool(devops: CreditKit) -> None:
    with pytest.raises(InvalidRequest) as refused:
        devops.subscribe("dev", "starter", collected_elsewhere="yes")  # type: ignore[arg-type]
    assert refused.value.field == "collected_elsewhere"


def test_an_unknown_plan_is_named_by_the_subscriptions_own_check(devops: CreditKit) -> None:
    with pytest.raises(InvalidRequest) as refused:
        devops.subscribe("dev", "platinum")
    assert refused.value.code != CheckoutRequired.code
