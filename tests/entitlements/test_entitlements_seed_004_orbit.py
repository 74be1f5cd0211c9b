"""Seed 004 (Orbit): workspace limits per tier, features per tier, team members with roles and
ownership transfer, and the downgrade rule: existing resources stay, new ones are refused while
over the limit, and ``over_limit`` lists what is over."""

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from creditkit import CreditKit, ManualClock
from creditkit.catalog import UNLIMITED, CountOrUnlimited
from creditkit.entitlements import Reason

SEED_004 = Path(__file__).parents[2] / "examples" / "seed_004_orbit_workspaces" / "catalog.yaml"
START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
NEXT_PERIOD = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)

#: The seed's tier comparison table.
TIERS: dict[str, dict[str, CountOrUnlimited]] = {
    "free": {"social_accounts": 3, "scheduled_posts": 30, "ab_tests": 1, "team_members": 1},
    "pro": {
        "social_accounts": 10,
        "scheduled_posts": UNLIMITED,
        "ab_tests": 10,
        "team_members": 3,
    },
    "business": {
        "social_accounts": UNLIMITED,
        "scheduled_posts": UNLIMITED,
        "ab_tests": UNLIMITED,
        "team_members": 10,
    },
}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def orbit(make_kit: Callable[..., CreditKit]) -> CreditKit:
    kit = make_kit(catalog=SEED_004)
    for user in ("ada", "ben", "cy", "dee", "eve"):
        kit.create_customer(user)
    kit.create_customer("acme", kind="workspace")
    kit.add_member("acme", "ada", "owner")
    return kit


@pytest.mark.parametrize("tier", list(TIERS))
def test_each_tier_has_the_seeds_limits(orbit: CreditKit, tier: str) -> None:
    if tier != "free":
        orbit.change_plan("acme", tier)
    limits = {usage.name: usage.limit for usage in orbit.usage_of_limits("acme")}
    assert limits == TIERS[tier]


def test_features_per_tier_with_the_upgrade_that_unlocks_them(orbit: CreditKit) -> None:
    assert orbit.entitled("acme", "pulse_dashboard").allowed
    assert orbit.entitled("acme", "relay").upgrade_to == "pro"  # "Can FREE users access Relay?"
    assert orbit.entitled("acme", "advanced_analytics").upgrade_to == "business"
    orbit.change_plan("acme", "pro")
    assert orbit.entitled("acme", "relay").allowed
    assert orbit.entitled("acme", "white_label_reports").upgrade_to == "business"


def test_free_limits_are_enforced_with_an_upgrade_prompt(orbit: CreditKit) -> None:
    for number in range(3):
        assert orbit.acquire("acme", "social_accounts", f"account-{number}").allowed
    refused = orbit.acquire("acme", "social_accounts", "account-3")
    assert (refused.allowed, refused.reason, refused.upgrade_to) == (False, "limit_reached", "pro")
    for number in range(30):
        assert orbit.track("acme", "scheduled_posts", idempotency_key=f"post-{number}").allowed
    assert orbit.track("acme", "scheduled_posts", idempotency_key="post-30").upgrade_to == "pro"
    assert orbit.add_member("acme", "ben", "editor").upgrade_to == "pro"
    assert orbit.acquire("acme", "ab_tests", "test-0").allowed
    assert orbit.acquire("acme", "ab_tests", "test-1").upgrade_to == "pro"


def test_pro_team_of_three_then_business(orbit: CreditKit) -> None:
    orbit.change_plan("acme", "pro")
    orbit.add_member("acme", "ben", "admin")
    orbit.add_member("acme", "cy", "editor")
    assert orbit.add_member("acme", "dee", "viewer").upgrade_to == "business"
    orbit.change_plan("acme", "business")
    assert orbit.add_member("acme", "dee", "viewer").allowed
    orbit.transfer_ownership("acme", "ben")
    assert [(member.user, member.role.value) for member in orbit.members("acme")] == [
        ("ben", "owner"),
        ("ada", "admin"),
        ("cy", "editor"),
        ("dee", "viewer"),
    ]


def test_a_downgrade_keeps_resources_refuses_new_ones_and_lists_what_is_over(
    orbit: CreditKit, clock: ManualClock
) -> None:
    orbit.change_plan("acme", "pro")
    for number in range(8):
        assert orbit.acquire("acme", "social_accounts", f"account-{number}").allowed
    for number in range(4):
        assert orbit.acquire("acme", "ab_tests", f"test-{number}").allowed
    orbit.add_member("acme", "ben", "admin")
    orbit.add_member("acme", "cy", "editor")
    for number in range(40):
        orbit.track("acme", "scheduled_posts", idempotency_key=f"march-{number}")

    # "Downgrades take effect at the next billing cycle": Pro's limits stand until then.
    orbit.change_plan("acme", "free")
    assert orbit.acquire("acme", "social_accounts", "account-8").allowed
    assert orbit.over_limit("acme") == []

    clock.set(NEXT_PERIOD)
    assert orbit.plan_of("acme").id == "free"
    over = {usage.name: (usage.used, usage.limit) for usage in orbit.over_limit("acme")}
    assert over == {"social_accounts": (9, 3), "ab_tests": (4, 1), "team_members": (3, 1)}
    # Existing resources remain: held ones stay acquirable, members stay members.
    kept = orbit.acquire("acme", "social_accounts", "account-0")
    assert (kept.allowed, kept.reason, kept.used, kept.limit) == (True, "already_counted", 9, 3)
    assert [member.user for member in orbit.members("acme")] == ["ada", "ben", "cy"]
    assert orbit.add_member("acme", "cy", "viewer").reason == Reason.ROLE_CHANGED
    # New ones are refused while over the limit, with the plan that would take them.
    refused = orbit.acquire("acme", "social_accounts", "account-new")
    assert (refused.allowed, refused.upgrade_to, refused.used, refused.limit) == (
        False,
        "pro",
        9,
        3,
    )
    # A 4th member: past Pro's 3 too.
    assert orbit.add_member("acme", "dee", "viewer").upgrade_to == "business"
    # The monthly counter started again with the Free period.
    assert orbit.track("acme", "scheduled_posts", idempotency_key="april-0").used == 1

    # "Overage resources marked for manual cleanup": back under the limit, new ones fit again.
    for number in range(6):
        assert orbit.release_resource("acme", "social_accounts", f"account-{number}")
    assert not orbit.acquire("acme", "social_accounts", "account-new").allowed  # 3 of 3
    orbit.release_resource("acme", "social_accounts", "account-6")
    assert orbit.acquire("acme", "social_accounts", "account-new").allowed
    orbit.remove_member("acme", "cy")
    orbit.remove_member("acme", "ben")
    assert [usage.name for usage in orbit.over_limit("acme")] == ["ab_tests"]


def test_each_workspace_has_its_own_subscription_and_limits(orbit: CreditKit) -> None:
    orbit.create_customer("agency", kind="workspace")
    orbit.add_member("agency", "ada", "owner")
    orbit.change_plan("agency", "business")
    for number in range(12):
        assert orbit.acquire("agency", "social_accounts", f"account-{number}").allowed
    for number in range(3):
        orbit.acquire("acme", "social_accounts", f"account-{number}")
    assert not orbit.acquire("acme", "social_accounts", "account-3").allowed
