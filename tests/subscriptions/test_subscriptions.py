"""Subscriptions on the real tiers of seed 002 (and small catalogs of their own where a rule
needs one): periods, renewals, upgrades, downgrades, cancels, trials, grandfathering."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from creditkit import CreditKit, InsufficientCredits, InvalidRequest, ManualClock, Money
from creditkit.catalog import parse_catalog

EXAMPLES = Path(__file__).parents[2] / "examples"
SEED_002 = EXAMPLES / "seed_002_devops_agent" / "catalog.yaml"
SEED_004 = EXAMPLES / "seed_004_orbit_workspaces" / "catalog.yaml"
START = datetime(2026, 1, 31, 10, 0, tzinfo=UTC)

MakeKit = Callable[..., CreditKit]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def devops(make_kit: MakeKit) -> CreditKit:
    kit = make_kit(catalog=SEED_002)
    kit.create_customer("dev")
    return kit


def available(kit: CreditKit, customer: str = "dev") -> int:
    return int(kit.balance(customer).available)


def test_a_new_customer_starts_on_the_default_plan_with_its_allowance(devops: CreditKit) -> None:
    subscription = devops.subscription("dev")
    assert subscription is not None
    assert (subscription.plan, subscription.interval, subscription.status) == (
        "free",
        "month",
        "active",
    )
    assert available(devops) == 20
    assert devops.billing_lines("dev") == ()  # the free plan bills nothing


def test_chat_is_blocked_at_zero_and_the_month_resets_lazily(
    devops: CreditKit, clock: ManualClock
) -> None:
    for message in range(20):
        devops.charge("dev", 1, action="chat", idempotency_key=f"m{message}")
    with pytest.raises(InsufficientCredits):
        devops.charge("dev", 1, action="chat", idempotency_key="m20")
    clock.set(datetime(2026, 2, 28, 10, 0, tzinfo=UTC))  # anniversary of Jan 31 in February
    assert available(devops) == 20  # no cron: the read renewed it
    subscription = devops.subscription("dev")
    assert subscription is not None
    assert subscription.current_period_start == datetime(2026, 2, 28, 10, 0, tzinfo=UTC)
    assert subscription.current_period_end == datetime(2026, 3, 31, 10, 0, tzinfo=UTC)


def test_unused_allowance_does_not_roll_over_by_default(
    devops: CreditKit, clock: ManualClock
) -> None:
    devops.charge("dev", 5, idempotency_key="c1")
    clock.advance(days=31)
    assert available(devops) == 20
    kinds = [item.kind for item in devops.history("dev").items]
    assert kinds[:2] == ["grant", "expiry"] or kinds[:2] == ["expiry", "grant"]


def test_upgrade_is_immediate_prorated_and_adds_the_allowance_difference(
    devops: CreditKit, clock: ManualClock
) -> None:
    devops.charge("dev", 15, idempotency_key="c1")
    period_seconds = (datetime(2026, 2, 28, 10, tzinfo=UTC) - START).total_seconds()
    clock.advance(days=7)
    subscription = devops.change_plan("dev", "starter")
    assert subscription.plan == "starter"
    assert available(devops) == 5 + 180  # seed 002: new_tier - old_tier credits now
    remaining = (datetime(2026, 2, 28, 10, tzinfo=UTC) - clock()).total_seconds()
    (line,) = devops.billing_lines("dev")
    assert line.kind == "proration"
    assert line.amount == Money(round(1900 * remaining / period_seconds), "USD")
    # At renewal the full Starter allowance and a full month's fee.
    clock.set(datetime(2026, 2, 28, 10, tzinfo=UTC))
    assert available(devops) == 200
    assert devops.billing_lines("dev")[0].amount == Money(1900, "USD")


def test_downgrade_waits_for_the_end_of_the_period(devops: CreditKit, clock: ManualClock) -> None:
    devops.subscribe("dev", "professional", collected_elsewhere=True)
    clock.advance(days=3)
    subscription = devops.change_plan("dev", "starter")
    assert (subscription.plan, subscription.scheduled_plan) == ("professional", "starter")
    assert devops.plan_of("dev").id == "professional"
    clock.set(datetime(2026, 2, 28, 10, tzinfo=UTC))
    subscription = devops.subscription("dev")
    assert subscription is not None
    assert (subscription.plan, subscription.scheduled_plan) == ("starter", None)
    assert devops.billing_lines("dev")[0].amount == Money(1900, "USD")


def test_cancel_at_period_end_returns_to_the_default_plan(
    devops: CreditKit, clock: ManualClock
) -> None:
    devops.subscribe("dev", "business", collected_elsewhere=True)
    assert devops.cancel("dev").cancel_at_period_end
    assert devops.plan_of("dev").id == "business"
    clock.set(datetime(2026, 2, 28, 10, tzinfo=UTC))
    subscription = devops.subscription("dev")
    assert subscription is not None
    assert (subscription.plan, subscription.cancel_at_period_end) == ("free", False)


def test_changing_back_undoes_a_scheduled_change(devops: CreditKit) -> None:
    devops.subscribe("dev", "business", collected_elsewhere=True)
    devops.change_plan("dev", "starter")
    subscription = devops.change_plan("dev", "business")
    assert subscription.scheduled_plan is None


def test_periods_are_anniversaries(devops: CreditKit, clock: ManualClock) -> None:
    devops.subscribe("dev", "starter", collected_elsewhere=True)
    ends = []
    for _month in range(3):
        subscription = devops.subscription("dev")
        assert subscription is not None
        ends.append(subscription.current_period_end.date().isoformat())
        clock.set(subscription.current_period_end)
    assert ends == ["2026-02-28", "2026-03-31", "2026-04-30"]


def test_tick_renews_customers_nobody_touches(devops: CreditKit, clock: ManualClock) -> None:
    devops.subscribe("dev", "starter", collected_elsewhere=True)
    clock.advance(days=62)
    devops.tick()
    lines = devops.billing_lines("dev")
    assert [line.amount.amount_minor for line in lines] == [1900, 1900, 1900]


def test_an_annual_plan_still_grants_its_allowance_every_month(
    make_kit: MakeKit, clock: ManualClock
) -> None:
    kit = make_kit(catalog=SEED_004)
    kit.create_customer("team", kind="workspace")
    kit.subscribe("team", "pro", interval="year", collected_elsewhere=True)
    assert kit.billing_lines("team")[0].amount == Money(27800, "USD")
    # A new interval starts a new run of periods; the free month's 100 stay until they expire,
    # and the upgrade adds the difference (allowance_on_upgrade's default), as without it.
    assert available(kit, "team") == 100 + 900
    kit.charge("team", 600, idempotency_key="c1")
    clock.set(datetime(2026, 2, 28, 10, tzinfo=UTC))
    assert available(kit, "team") == 1000  # a new month's credits; the rest did not roll over
    assert len(kit.billing_lines("team")) == 1  # but no new fee until the year ends


def test_a_trial_bills_nothing_until_it_ends(devops: CreditKit, clock: ManualClock) -> None:
    devops.create_customer("trial")
    subscription = devops.subscribe("trial", "starter", trial_days=14, collected_elsewhere=True)
    assert subscription.status == "trialing"
    assert devops.billing_lines("trial") == ()
    assert available(devops, "trial") == 20 + 200  # the free month's credits stay theirs
    clock.advance(days=14)
    assert devops.subscription("trial").status == "active"  # type: ignore[union-attr]
    subscription = devops.subscription("trial")
    assert subscription is not None
    clock.set(subscription.current_period_end)  # the first period ends after the trial
    assert devops.billing_lines("trial")[0].amount == Money(1900, "USD")
    assert devops.subscription("trial").status == "active"  # type: ignore[union-attr]
    with pytest.raises(InvalidRequest) as refused:
        devops.subscribe("trial", "business", trial_days=7, collected_elsewhere=True)
    assert refused.value.field == "trial_days"


CATALOG_V1 = """
units: {credits: {scale: 0}}
plans:
  free: {name: Free, default: true, rank: 0, prices: {month: {amount: 0, currency: USD}},
         allowance: {amount: 10, unit: credits}}
  pro: {name: Pro, rank: 1, prices: {month: {amount: 1000, currency: USD}},
        allowance: {amount: 100, unit: credits, rollover: {cap: 30}}}
"""


def test_edited_plans_are_new_versions_and_subscribers_keep_theirs(
    make_kit: MakeKit, clock: ManualClock
) -> None:
    first = make_kit(catalog=parse_catalog(CATALOG_V1))
    first.create_customer("early")
    first.subscribe("early", "pro", collected_elsewhere=True)
    edited = parse_catalog(CATALOG_V1.replace("amount: 1000", "amount: 1500"))
    second = make_kit(catalog=edited)
    second.create_customer("late")
    second.subscribe("late", "pro", collected_elsewhere=True)
    early, late = second.subscription("early"), second.subscription("late")
    assert early is not None and late is not None
    assert (early.plan_version, late.plan_version) == (1, 2)
    clock.set(early.current_period_end)
    assert second.billing_lines("early")[0].amount == Money(1000, "USD")  # grandfathered
    assert second.billing_lines("late")[0].amount == Money(1500, "USD")


def test_capped_rollover_carries_at_most_the_cap(make_kit: MakeKit, clock: ManualClock) -> None:
    kit = make_kit(catalog=parse_catalog(CATALOG_V1))
    kit.create_customer("saver")
    kit.subscribe("saver", "pro", collected_elsewhere=True)
    kit.charge("saver", kit.balance("saver").available - 50, idempotency_key="c1")
    assert available(kit, "saver") == 50
    subscription = kit.subscription("saver")
    assert subscription is not None
    clock.set(subscription.current_period_end)
    assert available(kit, "saver") == 100 + 30
    assert kit.audit().ok


def test_plan_and_interval_errors_name_the_field(devops: CreditKit) -> None:
    with pytest.raises(InvalidRequest) as refused:
        devops.subscribe("dev", "starter", interval="week")
    assert refused.value.field == "interval"
    with pytest.raises(InvalidRequest) as refused:
        devops.subscribe("dev", "starter", interval="year")  # sold monthly only
    assert refused.value.field == "interval"
    with pytest.raises(InvalidRequest) as refused:
        devops.change_plan("dev", "starter", allowance_on_upgrade="double")
    assert refused.value.field == "allowance_on_upgrade"


def test_subscriptions_need_a_catalog(ck: CreditKit) -> None:
    with pytest.raises(InvalidRequest) as refused:
        ck.subscribe("u1", "pro", collected_elsewhere=True)
    assert refused.value.field == "catalog"


def test_renewals_keep_the_ledger_balanced(devops: CreditKit, clock: ManualClock) -> None:
    devops.subscribe("dev", "starter", collected_elsewhere=True)
    for day in range(0, 120, 9):
        devops.charge("dev", 3, idempotency_key=f"c{day}")
        clock.advance(days=9)
    devops.tick()
    assert devops.audit().ok
    assert timedelta(0) <= clock() - START
