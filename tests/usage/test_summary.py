"""usage_summary: a period's spending, grants, breakage and overage, and the balance now, all
summed from the ledger's rows."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from creditkit import CreditKit, InsufficientCredits, InvalidRequest, ManualClock, UnknownCustomer
from creditkit.catalog import Catalog
from creditkit.ledger.schemas import GrantSource

START = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)  # the clock fixture's start (conftest)

FIRST_PERIOD = (START, datetime(2026, 2, 15, 10, 0, tzinfo=UTC))


def test_the_current_period_sums_what_happened_in_it(kit: CreditKit) -> None:
    kit.grant("u1", 50, idempotency_key="pack")
    kit.charge("u1", action="ask_anything", quantity=30, idempotency_key="ask")
    kit.charge("u1", action="generate_image", quantity=2, idempotency_key="images")
    with pytest.raises(InsufficientCredits):
        kit.charge("u1", 1_000, idempotency_key="too-much")
    kit.reserve("u1", 15, idempotency_key="hold")
    kit.transfer("u1", "u2", 5, idempotency_key="gift")
    summary = kit.usage_summary("u1")
    assert (summary.period_start, summary.period_end) == FIRST_PERIOD
    assert (summary.spent, summary.charges) == (40, 2)  # the refusal spent nothing
    assert summary.granted == 150
    assert summary.granted_by_source[GrantSource.ALLOWANCE] == 100
    assert summary.granted_by_source[GrantSource.PURCHASE] == 50
    assert summary.granted_by_source[GrantSource.GIFT] == 0
    assert (summary.expired, summary.transferred_out, summary.overage) == (0, 5, 0)
    # 40 spent and 15 held, all from the allowance (it burns first; the gift came from the pack):
    # held credits are out of the allowance until a release gives them back.
    assert (summary.allowance, summary.allowance_spent) == (100, 55)
    assert summary.allowance_used == Decimal("0.55")
    assert (summary.available, summary.held) == (90, 15)
    assert summary.available == kit.balance("u1").available
    received = kit.usage_summary("u2")
    assert received.granted_by_source[GrantSource.GIFT] == 5


def test_a_period_counts_its_allowance_expiry_though_recorded_in_the_next(
    kit: CreditKit, clock: ManualClock
) -> None:
    kit.charge("u1", 30, idempotency_key="c1")
    clock.set(FIRST_PERIOD[1] + timedelta(hours=1))
    kit.charge("u1", 4, idempotency_key="c2")  # renews: the old allowance's breakage recorded
    first = kit.usage_summary("u1", period=FIRST_PERIOD)
    assert (first.spent, first.granted, first.expired) == (30, 100, 70)
    current = kit.usage_summary("u1")
    assert current.period_start == FIRST_PERIOD[1]
    assert (current.spent, current.granted, current.expired) == (4, 100, 0)
    assert current.allowance_used == Decimal("0.04")


def test_overage_is_what_was_spent_beyond_the_grants(kit: CreditKit) -> None:
    # An upgrade: 20 - 100 is no raise, so no new allowance
    kit.subscribe("u1", "metered", collected_elsewhere=True)
    available = kit.balance("u1").available
    kit.charge("u1", available + 35, idempotency_key="into-overage")
    summary = kit.usage_summary("u1")
    assert (summary.overage, summary.available, summary.overage_available) == (35, 0, 65)
    assert summary.unlimited is False


def test_an_unlimited_plan_issues_as_it_spends(kit: CreditKit) -> None:
    kit.subscribe("u1", "infinite", collected_elsewhere=True)
    available = kit.balance("u1").available
    kit.charge("u1", available + 1_000, idempotency_key="big")
    summary = kit.usage_summary("u1")
    assert (summary.overage, summary.unlimited) == (1_000, True)
    # Free's allowance was granted at this same moment, in the new period: all of it used, and
    # the 1,000 beyond it is overage, not 1,100% of the allowance.
    assert (summary.allowance, summary.allowance_spent, summary.spent) == (100, 100, 1_100)
    # Unlimited is shown as unlimited: no share used (a meter would show a full, red bar).
    assert summary.allowance_used is None


def test_the_figures_account_for_every_credit(kit: CreditKit, clock: ManualClock) -> None:
    """Over all time: what came in (granted, issued beyond the grants) less what went out
    (spent, expired, given away) is what the customer holds: available, held, and grants
    that start later. Holds whose grant expires while held, transfers, a plan that issues on
    demand and expiry are all in it."""
    kit.grant("u1", 40, idempotency_key="soon", expires_at=START + timedelta(days=2))
    kit.grant("u1", 10, idempotency_key="later", effective_at=START + timedelta(days=90))
    kit.grant("u1", 25, idempotency_key="pack")
    expiring_hold = kit.reserve("u1", 120, idempotency_key="h1", timeout_seconds=7 * 24 * 3600)
    kit.transfer("u1", "u2", 5, idempotency_key="gift")
    clock.advance(days=3)  # the 40 expire while part of them is held
    kit.commit(expiring_hold.id, 50, idempotency_key="h1-commit")
    released = kit.reserve("u1", 10, idempotency_key="h2")
    kit.release(released.id, idempotency_key="h2-release")
    kit.reserve("u1", 3, idempotency_key="h3", timeout_seconds=60)
    kit.subscribe("u1", "infinite", collected_elsewhere=True)
    kit.charge("u1", kit.balance("u1").available + 7, idempotency_key="beyond")
    kit.reserve("u1", 4, idempotency_key="h4")
    clock.advance(days=40)
    all_time = (START, START + timedelta(days=400))
    summary = kit.usage_summary("u1", period=all_time)
    balance = kit.balance("u1")
    upcoming = sum(grant.remaining for grant in balance.upcoming)
    assert summary.expired > 0 and summary.overage > 0
    came_in = summary.granted + summary.overage
    went_out = summary.spent + summary.expired + summary.transferred_out
    assert came_in - went_out == balance.available + balance.held + upcoming
    assert kit.audit().ok


def test_a_unit_with_decimals(kit: CreditKit) -> None:
    kit.grant("u1", "10.50", unit="tokens", idempotency_key="tokens")
    kit.charge("u1", action="embed", quantity=3, idempotency_key="embed")
    summary = kit.usage_summary("u1", unit="tokens")
    assert (summary.spent, summary.granted, summary.available) == (
        Decimal("0.75"),
        Decimal("10.50"),
        Decimal("9.75"),
    )
    assert summary.allowance_used is None


def test_without_a_catalog_the_period_is_the_calendar_month(
    make_kit: Callable[..., CreditKit], clock: ManualClock
) -> None:
    bare = make_kit()
    bare.create_customer("u1")
    bare.grant("u1", 10, idempotency_key="g")
    bare.charge("u1", 3, idempotency_key="c")
    summary = bare.usage_summary("u1")
    assert (summary.period_start, summary.period_end) == (
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2026, 2, 1, tzinfo=UTC),
    )
    assert (summary.spent, summary.granted, summary.allowance) == (3, 10, 0)


def test_a_yearly_plan_counts_its_monthly_allowance_period(
    make_kit: Callable[..., CreditKit], usage_catalog: Catalog, clock: ManualClock
) -> None:
    yearly = make_kit(catalog=usage_catalog)
    yearly.create_customer("u1")
    clock.advance(days=40)
    summary = yearly.usage_summary("u1")
    subscription = yearly.subscription("u1")
    assert subscription is not None
    assert (summary.period_start, summary.period_end) == (
        subscription.allowance_period_start,
        subscription.allowance_period_end,
    )


@pytest.mark.parametrize(
    "period",
    [
        (START, START),
        (START + timedelta(days=1), START),
        (START.replace(tzinfo=None), START + timedelta(days=1)),
        (START,),
        "this month",
    ],
)
def test_a_bad_period_names_the_field(kit: CreditKit, period: object) -> None:
    with pytest.raises(InvalidRequest) as refused:
        kit.usage_summary("u1", period=period)  # type: ignore[arg-type]
    assert refused.value.field == "period"


def test_unknown_customers_and_units(kit: CreditKit) -> None:
    with pytest.raises(UnknownCustomer):
        kit.usage_summary("nobody")
    with pytest.raises(InvalidRequest) as refused:
        kit.usage_summary("u1", unit="gold")
    assert refused.value.field == "unit"
