"""Seed 000 (social AI platform): free tier limits, monthly credits, pay-as-you-go after
they run out, earned and gifted credits, on the example's own catalog."""

import importlib.util
from collections.abc import Callable
from pathlib import Path

import pytest

from creditkit import CreditKit, InsufficientCredits, ManualClock, Money

EXAMPLE = Path(__file__).parents[2] / "examples" / "seed_000_social_platform"


@pytest.fixture
def social(make_kit: Callable[..., CreditKit]) -> CreditKit:
    kit = make_kit(catalog=EXAMPLE / "catalog.yaml")
    kit.create_customer("ada")
    kit.create_customer("grace")
    return kit


def test_free_is_fifty_credits_and_one_of_each(social: CreditKit) -> None:
    assert social.balance("ada").available == 50
    for limit in ("tasks", "agents", "communities", "notebooks"):
        assert social.acquire("ada", limit, "first").allowed
        refused = social.acquire("ada", limit, "second")
        assert (refused.allowed, refused.upgrade_to) == (False, "premium")
    with pytest.raises(InsufficientCredits):  # no post-pay on Free
        social.charge("ada", 51, idempotency_key="c1")


def test_premium_and_pro_credits_and_prices(social: CreditKit) -> None:
    social.subscribe("ada", "premium", collected_elsewhere=True)
    social.subscribe("grace", "pro", interval="year", collected_elsewhere=True)
    assert social.billing_lines("ada")[0].amount == Money(1200, "USD")
    assert social.billing_lines("grace")[0].amount == Money(29000, "USD")
    # An upgrade adds the allowances' difference, with a change of interval or without.
    assert social.balance("grace").available == 50 + (10_000 - 50)


def test_pay_as_you_go_after_the_credits_run_out(social: CreditKit, clock: ManualClock) -> None:
    social.subscribe("ada", "premium", collected_elsewhere=True)
    social.charge("ada", 2000 + 3000, idempotency_key="heavy-use")
    subscription = social.subscription("ada")
    assert subscription is not None
    clock.set(subscription.current_period_end)
    overage = [line for line in social.billing_lines("ada") if line.kind == "overage"]
    assert [line.amount for line in overage] == [Money(1500, "USD")]


def test_earned_credits_can_be_gifted_allowances_cannot(social: CreditKit) -> None:
    with pytest.raises(InsufficientCredits):
        social.transfer("ada", "grace", 10, idempotency_key="t1")
    social.grant("ada", 100, source="earned", transferable=True, idempotency_key="e1")
    social.transfer("ada", "grace", 60, idempotency_key="t2")
    assert social.balance("grace").available == 50 + 60


def test_the_scenario_runs(database_url: str) -> None:
    spec = importlib.util.spec_from_file_location("seed_000_scenario", EXAMPLE / "scenario.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    lines: list[str] = []
    module.run(database_url, say=lines.append).close()
    assert "   insight: Your top agent this week is Einstein." in lines
    costliest = "   insight: Your costliest model this week is claude-sonnet-4-5, most of it spent"
    assert f"{costliest} by your agent Einstein." in lines
    assert lines[-1] == "audit: ok"
