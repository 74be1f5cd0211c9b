"""Seed 004 (Orbit): limits per tier, downgrade keeps resources, no rollover, annual price,
members and ownership, Pixel tokens per user, on the example's own catalog."""

import importlib.util
from collections.abc import Callable
from pathlib import Path

import pytest

from creditkit import CreditKit, ManualClock, Money

EXAMPLE = Path(__file__).parents[2] / "examples" / "seed_004_orbit_workspaces"
LIMITS = {
    "free": {"social_accounts": 3, "ab_tests": 1, "team_members": 1},
    "pro": {"social_accounts": 10, "ab_tests": 10, "team_members": 3},
}


@pytest.fixture
def orbit(make_kit: Callable[..., CreditKit]) -> CreditKit:
    kit = make_kit(catalog=EXAMPLE / "catalog.yaml")
    kit.create_customer("owner", subscribe=False)
    kit.create_customer("studio", kind="workspace")
    kit.add_member("studio", "owner", "owner")
    return kit


@pytest.mark.parametrize("plan", ["free", "pro"])
def test_limits_per_tier(orbit: CreditKit, plan: str) -> None:
    if plan != "free":
        orbit.subscribe("studio", plan, collected_elsewhere=True)
    for limit in ("social_accounts", "ab_tests"):
        cap = LIMITS[plan][limit]
        for number in range(cap):
            assert orbit.acquire("studio", limit, f"{limit}-{number}").allowed
        refused = orbit.acquire("studio", limit, f"{limit}-{cap}")
        assert (refused.allowed, refused.used, refused.limit) == (False, cap, cap)


def test_downgrade_keeps_resources_and_refuses_new_ones(
    orbit: CreditKit, clock: ManualClock
) -> None:
    orbit.subscribe("studio", "pro", collected_elsewhere=True)
    for number in range(7):
        orbit.acquire("studio", "social_accounts", f"account-{number}")
    orbit.change_plan("studio", "free")
    subscription = orbit.subscription("studio")
    assert subscription is not None
    clock.set(subscription.current_period_end)
    assert orbit.plan_of("studio").id == "free"
    over = {usage.name: (usage.used, usage.limit) for usage in orbit.over_limit("studio")}
    assert over == {"social_accounts": (7, 3)}
    refused = orbit.acquire("studio", "social_accounts", "account-new")
    assert (refused.allowed, refused.upgrade_to) == (False, "pro")
    assert orbit.release_resource("studio", "social_accounts", "account-0")


def test_ai_credits_do_not_roll_over(orbit: CreditKit, clock: ManualClock) -> None:
    orbit.charge("studio", action="relay_draft", quantity=40, idempotency_key="d1")
    subscription = orbit.subscription("studio")
    assert subscription is not None
    clock.set(subscription.current_period_end)
    assert orbit.balance("studio").available == 100


def test_annual_prices(orbit: CreditKit) -> None:
    orbit.create_customer("big", kind="workspace")
    orbit.subscribe("studio", "pro", interval="year", collected_elsewhere=True)
    orbit.subscribe("big", "business", interval="year", collected_elsewhere=True)
    assert orbit.billing_lines("studio")[0].amount == Money(27800, "USD")
    assert orbit.billing_lines("big")[0].amount == Money(95000, "USD")


def test_pixel_tokens_are_the_users_and_never_expire(orbit: CreditKit, clock: ManualClock) -> None:
    orbit.grant_pack("owner", "pixel_token", idempotency_key="p1")
    orbit.grant_pack("owner", "pixel_token", idempotency_key="p2")
    clock.advance(days=800)
    assert orbit.balance("owner", unit="pixel_tokens").available == 2
    assert orbit.balance("owner").available == 0  # no AI credits: those are the workspace's
    assert orbit.balance("studio", unit="pixel_tokens").available == 0


def test_the_scenario_runs(database_url: str) -> None:
    spec = importlib.util.spec_from_file_location("seed_004_scenario", EXAMPLE / "scenario.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    lines: list[str] = []
    module.run(database_url, say=lines.append).close()
    assert lines[-1] == "audit: ok"
