"""Features and quotas from the plan in force: upgrade suggestions, unknown names, upgrades now
and downgrades at period end, grandfathered plan versions, and the catalog they need."""

from collections.abc import Callable
from datetime import timedelta

import pytest

from creditkit import CreditKit, InvalidRequest, ManualClock, UnknownCustomer
from creditkit.catalog import UNLIMITED, parse_catalog
from creditkit.entitlements import Decision, Reason

MakeKit = Callable[..., CreditKit]


def test_a_feature_of_the_plan_is_allowed(kit: CreditKit) -> None:
    assert kit.entitled("u1", "basic") == Decision(True, Reason.FEATURE_INCLUDED, None)


def test_a_feature_of_a_better_plan_suggests_the_lowest_plan_that_has_it(kit: CreditKit) -> None:
    reports = kit.entitled("u1", "reports")
    assert (reports.allowed, reports.reason, reports.upgrade_to) == (
        False,
        "feature_not_in_plan",
        "plus",
    )
    assert kit.entitled("u1", "sso").upgrade_to == "max"
    assert (reports.used, reports.limit) == (None, None)


def test_the_suggestion_is_above_the_plan_in_force(kit: CreditKit) -> None:
    kit.change_plan("u1", "plus")
    assert kit.entitled("u1", "reports").allowed
    assert kit.entitled("u1", "sso").upgrade_to == "max"


def test_an_unknown_feature_is_an_invalid_request(kit: CreditKit) -> None:
    with pytest.raises(InvalidRequest) as raised:
        kit.entitled("u1", "teleportation")
    assert raised.value.field == "feature"
    assert "teleportation" in raised.value.reason
    with pytest.raises(InvalidRequest) as raised:
        kit.entitled("u1", "")
    assert raised.value.field == "feature"


def test_an_unknown_customer_is_unknown(kit: CreditKit) -> None:
    with pytest.raises(UnknownCustomer):
        kit.entitled("nobody", "basic")
    with pytest.raises(UnknownCustomer):
        kit.quota("nobody", "max_file_mb")


def test_an_upgrade_grants_now_and_a_downgrade_takes_away_at_period_end(
    kit: CreditKit, clock: ManualClock
) -> None:
    kit.change_plan("u1", "max")
    assert kit.entitled("u1", "sso").allowed
    kit.change_plan("u1", "free")
    assert kit.entitled("u1", "sso").allowed  # paid until the end of the period
    subscription = kit.subscription("u1")
    assert subscription is not None
    clock.set(subscription.current_period_end - timedelta(seconds=1))
    assert kit.entitled("u1", "sso").allowed
    clock.set(subscription.current_period_end)
    decision = kit.entitled("u1", "sso")
    assert (decision.allowed, decision.upgrade_to) == (False, "max")


def test_quotas_come_from_the_plan_in_force(kit: CreditKit) -> None:
    assert kit.quota("u1", "max_file_mb") == 10
    kit.change_plan("u1", "plus")
    assert kit.quota("u1", "max_file_mb") == 100
    kit.change_plan("u1", "max")
    assert kit.quota("u1", "max_file_mb") is UNLIMITED
    assert kit.quota("u1", "api_keys") == 5


def test_a_quota_the_plan_does_not_name_is_not_capped(kit: CreditKit) -> None:
    assert kit.quota("u1", "api_keys") is UNLIMITED


def test_an_unknown_quota_is_an_invalid_request(kit: CreditKit) -> None:
    with pytest.raises(InvalidRequest) as raised:
        kit.quota("u1", "max_file_gb")
    assert raised.value.field == "quota"


def test_a_grandfathered_plan_version_keeps_its_features_and_quotas(
    make_kit: MakeKit, clock: ManualClock
) -> None:
    version_1 = """
units: {credits: {scale: 0}}
plans:
  free: {name: Free, default: true, rank: 0, prices: {month: {amount: 0, currency: USD}}}
  plus:
    name: Plus
    rank: 1
    prices: {month: {amount: 1000, currency: USD}}
    features: [reports, legacy_export]
    quotas: {max_file_mb: 100}
  max:
    name: Max
    rank: 2
    prices: {month: {amount: 5000, currency: USD}}
    features: [reports]
"""
    # Version 2 moves reports to Max, drops legacy_export and halves the file size.
    version_2 = version_1.replace(
        "features: [reports, legacy_export]\n    quotas: {max_file_mb: 100}",
        "features: [dashboards]\n    quotas: {max_file_mb: 50}",
    )
    assert version_2 != version_1
    first = make_kit(catalog=parse_catalog(version_1))
    first.create_customer("early")
    first.change_plan("early", "plus")
    clock.advance(days=1)
    second = make_kit(catalog=parse_catalog(version_2))
    second.create_customer("late")
    second.change_plan("late", "plus")
    assert second.entitled("early", "reports").allowed
    assert second.quota("early", "max_file_mb") == 100
    late = second.entitled("late", "reports")
    assert (late.allowed, late.upgrade_to) == (False, "max")
    assert second.quota("late", "max_file_mb") == 50
    # A feature only the old version has is still known to its subscribers, to nobody else.
    assert second.entitled("early", "legacy_export").allowed
    with pytest.raises(InvalidRequest) as raised:
        second.entitled("late", "legacy_export")
    assert raised.value.field == "feature"


def test_entitlements_need_a_catalog(make_kit: MakeKit) -> None:
    plain = make_kit()
    plain.create_customer("u1")
    plain.create_customer("w1", kind="workspace")
    calls: list[Callable[[], object]] = [
        lambda: plain.entitled("u1", "basic"),
        lambda: plain.acquire("u1", "tasks", "t1"),
        lambda: plain.release_resource("u1", "tasks", "t1"),
        lambda: plain.track("u1", "posts", idempotency_key="p1"),
        lambda: plain.usage_of_limits("u1"),
        lambda: plain.over_limit("u1"),
        lambda: plain.quota("u1", "max_file_mb"),
        lambda: plain.add_member("w1", "u1", "owner"),
        lambda: plain.remove_member("w1", "u1"),
        lambda: plain.members("w1"),
        lambda: plain.transfer_ownership("w1", "u1"),
    ]
    for call in calls:
        with pytest.raises(InvalidRequest) as raised:
            call()
        assert raised.value.field == "catalog"
