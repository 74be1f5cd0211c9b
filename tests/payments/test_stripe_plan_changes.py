"""A plan Stripe bills follows creditkit's changes, and creditkit follows Stripe's: an upgrade
swaps the subscription's Price now with Stripe's proration; a downgrade waits for the period's
end through a subscription schedule; cancel and resume set and clear ``cancel_at_period_end``;
a change made in the billing portal arrives by ``customer.subscription.updated`` and is applied
from Stripe's current state, so an older event read late undoes nothing; a plan bought on
January 31 has Stripe's periods; a grace period that ends cancels the Stripe subscription.
Every Stripe write carries an idempotency key. Stripe is the local fake on the kit's clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fake_stripe import FakeStripe
from fake_stripe_billing import stripe_months_after
from payments_support import URLS, stripe_event

from creditkit import CreditKit, ManualClock, SubscriptionStatus
from creditkit.catalog import Catalog, parse_catalog
from creditkit.payments import ProviderError

CATALOG = """\
units:
  credits: {scale: 0}
plans:
  free:
    name: Free
    default: true
    rank: 0
    prices: {month: {amount: 0, currency: USD}}
    allowance: {amount: 10, unit: credits}
  pro:
    name: Pro
    rank: 1
    prices: {month: {amount: 3000, currency: USD}, year: {amount: 30000, currency: USD}}
    allowance: {amount: 1000, unit: credits}
  business:
    name: Business
    rank: 2
    prices: {month: {amount: 9000, currency: USD}, year: {amount: 90000, currency: USD}}
    allowance: {amount: 5000, unit: credits}
"""


@pytest.fixture
def catalog() -> Catalog:
    return parse_catalog(CATALOG, "plan_changes.yaml")


@pytest.fixture
def on_stripe_clock(stripe_fake: FakeStripe, clock: ManualClock) -> FakeStripe:
    """Stripe's test clock is the kit's."""
    stripe_fake.clock = clock
    return stripe_fake


def _subscribe(kit: CreditKit, fake: FakeStripe, plan: str = "pro", key: str = "k1") -> str:
    session = kit.checkout("alice", plan=plan, idempotency_key=key, **URLS)
    paid = fake.pay(session.session_id)
    kit.handle_webhook("stripe", *stripe_event("checkout.session.completed", paid, f"e-{key}"))
    return str(paid["subscription"])


def _price_of(fake: FakeStripe, lookup_key: str) -> str:
    [price] = [price for price in fake.prices.values() if price["lookup_key"] == lookup_key]
    return str(price["id"])


def _periods(kit: CreditKit, fake: FakeStripe, subscription_id: str) -> tuple[Any, Any]:
    mine = kit.subscription("alice")
    assert mine is not None
    item = fake.subscription(subscription_id)["items"]["data"][0]
    theirs = (
        datetime.fromtimestamp(item["current_period_start"], UTC),
        datetime.fromtimestamp(item["current_period_end"], UTC),
    )
    return (mine.current_period_start, mine.current_period_end), theirs


def _renew(kit: CreditKit, fake: FakeStripe, subscription_id: str, to: datetime, tag: str) -> None:
    """Stripe's clock reaches ``to``: each renewal invoice it made is paid and sent."""
    for number, invoice in enumerate(fake.advance(subscription_id, to)):
        kit.handle_webhook("stripe", *stripe_event("invoice.paid", invoice, f"{tag}-{number}"))


def test_an_upgrade_swaps_the_price_now_with_stripes_proration(
    stripe_kit: CreditKit, on_stripe_clock: FakeStripe, clock: ManualClock
) -> None:
    fake = on_stripe_clock
    subscription_id = _subscribe(stripe_kit, fake)
    clock.advance(days=10)
    changed = stripe_kit.change_plan("alice", "business")
    assert changed.plan == "business"
    [update] = fake.calls("POST", f"/v1/subscriptions/{subscription_id}")
    assert update.params["items[0][price]"] == _price_of(fake, "creditkit_business_v1_month")
    assert update.params["proration_behavior"] == "always_invoice"
    assert update.params["payment_behavior"] == "error_if_incomplete"
    assert update.idempotency_key is not None
    # Stripe invoiced the rest of the period at the difference; the period is unchanged.
    [invoice] = [
        item for item in fake.billing.invoices if item["billing_reason"] != "subscription_cycle"
    ]
    start, end = _periods(stripe_kit, fake, subscription_id)[1]
    remaining, total = (end - clock()).total_seconds(), (end - start).total_seconds()
    assert invoice["amount_due"] == pytest.approx((9000 - 3000) * remaining / total, abs=1)
    mine, theirs = _periods(stripe_kit, fake, subscription_id)
    assert mine == theirs
    # Stripe's webhook of that change, read after it: nothing more to apply.
    stripe_kit.handle_webhook(
        "stripe",
        *stripe_event("customer.subscription.updated", fake.subscription(subscription_id), "u1"),
    )
    assert stripe_kit.plan_of("alice").id == "business"
    assert stripe_kit.balance("alice").available == 10 + 5000


def test_a_declined_proration_changes_neither_side(
    stripe_kit: CreditKit, on_stripe_clock: FakeStripe
) -> None:
    subscription_id = _subscribe(stripe_kit, on_stripe_clock)
    on_stripe_clock.subscriptions[subscription_id]["status"] = "canceled"  # refuses updates
    with pytest.raises(ProviderError):
        stripe_kit.change_plan("alice", "business")
    assert stripe_kit.plan_of("alice").id == "pro"


def test_a_downgrade_waits_for_the_period_end_through_a_schedule(
    stripe_kit: CreditKit, on_stripe_clock: FakeStripe, clock: ManualClock
) -> None:
    fake = on_stripe_clock
    subscription_id = _subscribe(stripe_kit, fake, plan="business")
    clock.advance(days=5)
    changed = stripe_kit.change_plan("alice", "pro")
    assert (changed.plan, changed.scheduled_plan) == ("business", "pro")
    [created] = fake.calls("POST", "/v1/subscription_schedules")
    assert created.params["from_subscription"] == subscription_id
    schedule_id = fake.subscription(subscription_id)["schedule"]
    [phases] = fake.calls("POST", f"/v1/subscription_schedules/{schedule_id}")
    assert phases.params["phases[1][items][0][price]"] == _price_of(fake, "creditkit_pro_v1_month")
    assert phases.params["end_behavior"] == "release"
    assert all(call.idempotency_key for call in (created, phases))
    # The same call again (a retry): the same schedule, nothing more at Stripe.
    stripe_kit.change_plan("alice", "pro")
    assert len(fake.calls("POST", "/v1/subscription_schedules")) == 1
    # Stripe's webhook of the schedule: read back, the same change at the period's end.
    body = fake.subscription(subscription_id)
    stripe_kit.handle_webhook("stripe", *stripe_event("customer.subscription.updated", body, "s"))
    subscription = stripe_kit.subscription("alice")
    assert subscription is not None
    assert (subscription.plan, subscription.scheduled_plan) == ("business", "pro")

    end = _periods(stripe_kit, fake, subscription_id)[1][1]
    clock.set(end + timedelta(hours=1))
    _renew(stripe_kit, fake, subscription_id, clock(), "r")
    assert stripe_kit.plan_of("alice").id == "pro"
    assert fake.subscription(subscription_id)["items"]["data"][0]["price"]["lookup_key"] == (
        "creditkit_pro_v1_month"
    )
    mine, theirs = _periods(stripe_kit, fake, subscription_id)
    assert mine == theirs and mine[0] == end


def test_cancel_and_resume_at_the_period_end(
    stripe_kit: CreditKit, on_stripe_clock: FakeStripe, clock: ManualClock
) -> None:
    fake = on_stripe_clock
    subscription_id = _subscribe(stripe_kit, fake)
    cancelled = stripe_kit.cancel("alice")
    assert cancelled.cancel_at_period_end
    assert fake.subscription(subscription_id)["cancel_at_period_end"] is True
    resumed = stripe_kit.change_plan("alice", "pro")
    assert not resumed.cancel_at_period_end
    assert fake.subscription(subscription_id)["cancel_at_period_end"] is False
    keys = [
        call.idempotency_key for call in fake.calls("POST", f"/v1/subscriptions/{subscription_id}")
    ]
    assert len(keys) == 2 and len(set(keys)) == 2 and None not in keys

    stripe_kit.cancel("alice")
    end = _periods(stripe_kit, fake, subscription_id)[1][1]
    clock.set(end + timedelta(minutes=5))
    fake.advance(subscription_id, clock())
    ended = fake.subscription(subscription_id)
    assert ended["status"] == "canceled"
    stripe_kit.handle_webhook("stripe", *stripe_event("customer.subscription.deleted", ended, "d"))
    assert stripe_kit.plan_of("alice").id == "free"


def test_cancel_now_cancels_the_stripe_subscription(
    stripe_kit: CreditKit, on_stripe_clock: FakeStripe
) -> None:
    subscription_id = _subscribe(stripe_kit, on_stripe_clock)
    stripe_kit.cancel("alice", at_period_end=False)
    assert on_stripe_clock.subscription(subscription_id)["status"] == "canceled"
    [deleted] = on_stripe_clock.calls("DELETE", f"/v1/subscriptions/{subscription_id}")
    assert deleted.idempotency_key is not None
    assert stripe_kit.plan_of("alice").id == "free"
    # Stripe's webhook of it, after: the customer is not moved again.
    ended = on_stripe_clock.subscription(subscription_id)
    outcome = stripe_kit.handle_webhook(
        "stripe", *stripe_event("customer.subscription.deleted", ended, "d")
    )
    assert not outcome.applied


def _portal_change(fake: FakeStripe, subscription_id: str, lookup_key: str) -> None:
    """What the billing portal does: the item's price swapped, prorated."""
    subscription = fake.subscriptions[subscription_id]
    price = fake.prices[_price_of(fake, lookup_key)]
    with fake._lock:
        fake.billing._swap(subscription, price, "create_prorations")


def test_a_portal_change_arrives_by_webhook_and_an_older_event_undoes_nothing(
    stripe_kit: CreditKit, on_stripe_clock: FakeStripe, clock: ManualClock
) -> None:
    fake = on_stripe_clock
    subscription_id = _subscribe(stripe_kit, fake)
    before = fake.subscription(subscription_id)  # an event's body, sent before the change
    clock.advance(days=3)
    _portal_change(fake, subscription_id, "creditkit_business_v1_month")
    after = fake.subscription(subscription_id)
    stripe_kit.handle_webhook("stripe", *stripe_event("customer.subscription.updated", after, "n"))
    assert stripe_kit.plan_of("alice").id == "business"
    assert stripe_kit.balance("alice").available == 10 + 5000  # the allowance raised
    # The older event, delivered late: Stripe's state now is business, so business stays.
    stripe_kit.handle_webhook("stripe", *stripe_event("customer.subscription.updated", before, "o"))
    assert stripe_kit.plan_of("alice").id == "business"
    # A cancellation in the portal, then undone there: applied, in order or not.
    with on_stripe_clock._lock:
        fake.subscriptions[subscription_id]["cancel_at_period_end"] = True
    body = fake.subscription(subscription_id)
    stripe_kit.handle_webhook("stripe", *stripe_event("customer.subscription.updated", body, "c"))
    subscription = stripe_kit.subscription("alice")
    assert subscription is not None and subscription.cancel_at_period_end
    with on_stripe_clock._lock:
        fake.subscriptions[subscription_id]["cancel_at_period_end"] = False
    stripe_kit.handle_webhook("stripe", *stripe_event("customer.subscription.updated", body, "r"))
    subscription = stripe_kit.subscription("alice")
    assert subscription is not None and not subscription.cancel_at_period_end
    mine, theirs = _periods(stripe_kit, fake, subscription_id)
    assert mine == theirs


def test_two_deliveries_at_once_end_on_stripes_newest_state(
    stripe_kit: CreditKit, on_stripe_clock: FakeStripe, clock: ManualClock
) -> None:
    """An event's state is read before the customer's lock: a portal change made right after
    that read, and its own event applied first, must not be undone by the older read
    committing last."""
    fake = on_stripe_clock
    subscription_id = _subscribe(stripe_kit, fake)
    body = fake.subscription(subscription_id)
    clock.advance(days=3)

    def portal_change_applied_meanwhile() -> None:
        _portal_change(fake, subscription_id, "creditkit_business_v1_month")
        newer = fake.subscription(subscription_id)
        event = stripe_event("customer.subscription.updated", newer, "newer")
        stripe_kit.handle_webhook("stripe", *event)
        assert stripe_kit.plan_of("alice").id == "business"

    fake.after_next("GET", f"/v1/subscriptions/{subscription_id}", portal_change_applied_meanwhile)
    stripe_kit.handle_webhook("stripe", *stripe_event("customer.subscription.updated", body, "old"))
    assert stripe_kit.plan_of("alice").id == "business"
    mine, theirs = _periods(stripe_kit, fake, subscription_id)
    assert mine == theirs


def test_a_plan_bought_on_january_31_has_stripes_periods(
    stripe_kit: CreditKit, on_stripe_clock: FakeStripe, clock: ManualClock
) -> None:
    fake = on_stripe_clock
    clock.set(datetime(2026, 1, 31, 15, 30, 12, tzinfo=UTC))
    session = stripe_kit.checkout("alice", plan="pro", idempotency_key="jan31", **URLS)
    paid = fake.pay(session.session_id)
    clock.advance(seconds=4)  # the webhook arrives after Stripe made the subscription
    stripe_kit.handle_webhook("stripe", *stripe_event("checkout.session.completed", paid, "j"))
    subscription_id = str(paid["subscription"])
    # Stripe's billing-cycle anchor rule: each end is months after the anchor, clamped.
    expected_ends = [datetime(2026, month, day, 15, 30, 12, tzinfo=UTC)
                     for month, day in ((2, 28), (3, 31), (4, 30), (5, 31))]  # fmt: skip
    for number, expected_end in enumerate(expected_ends):
        mine, theirs = _periods(stripe_kit, fake, subscription_id)
        assert mine == theirs
        assert theirs[1] == expected_end
        clock.set(expected_end + timedelta(hours=1))
        _renew(stripe_kit, fake, subscription_id, clock(), f"jan31-{number}")
        assert stripe_kit.balance("alice").available == 1000


def test_a_grace_period_that_ends_cancels_the_stripe_subscription(
    stripe_kit: CreditKit, on_stripe_clock: FakeStripe, clock: ManualClock
) -> None:
    fake = on_stripe_clock
    subscription_id = _subscribe(stripe_kit, fake)
    end = _periods(stripe_kit, fake, subscription_id)[1][1]
    clock.set(end + timedelta(hours=1))
    failed = {**fake.invoice(subscription_id, end, stripe_months_after(end, 1), paid=False)}
    stripe_kit.handle_webhook("stripe", *stripe_event("invoice.payment_failed", failed, "f"))
    subscription = stripe_kit.subscription("alice")
    assert subscription is not None and subscription.status is SubscriptionStatus.PAST_DUE
    assert fake.subscription(subscription_id)["status"] == "active"
    clock.advance(days=8)
    assert stripe_kit.plan_of("alice").id == "free"
    stripe_kit.worker().run_once()
    assert fake.subscription(subscription_id)["status"] == "canceled"
    [deleted] = fake.calls("DELETE", f"/v1/subscriptions/{subscription_id}")
    assert deleted.idempotency_key == f"creditkit-end-{subscription_id}"
    stripe_kit.worker().run_once()  # nothing left to cancel
    assert len(fake.calls("DELETE", f"/v1/subscriptions/{subscription_id}")) == 1
