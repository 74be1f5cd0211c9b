"""A plan's renewals collected by Stripe Billing: each paid ``invoice.paid`` starts the period its
subscription line names and grants that period's allowance once; creditkit's clock renews
nothing and bills no line of its own; a failed invoice is past due until the grace period ends,
then the default plan. The period is read from the invoice's subscription line, in the API
versions before and after 2025-03-31; a malformed one is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fake_stripe import FakeStripe
from payments_support import STRIPE_SECRET, URLS, count_rows, stripe_event

from creditkit import CreditKit, ManualClock, SubscriptionStatus
from creditkit.payments import PaymentKind, PaymentStatus, ReceiptKind, WebhookRejected
from creditkit.payments.schemas import ProviderEvent
from creditkit.payments.stripe_provider import StripeProvider
from creditkit.subscriptions.periods import add_months


@pytest.fixture
def subscribed(stripe_kit: CreditKit, stripe_fake: FakeStripe) -> str:
    """Alice on pro through a Stripe checkout; the Stripe subscription's id."""
    session = stripe_kit.checkout("alice", plan="pro", idempotency_key="k1", **URLS)
    paid = stripe_fake.pay(session.session_id)
    stripe_kit.handle_webhook("stripe", *stripe_event("checkout.session.completed", paid, "e0"))
    return str(paid["subscription"])


def test_three_periods_follow_the_paid_invoices(
    stripe_kit: CreditKit, stripe_fake: FakeStripe, subscribed: str, clock: ManualClock
) -> None:
    first = stripe_kit.subscription("alice")
    # The free plan's 10 credits stay until its period ends, with the first pro period.
    assert first is not None and stripe_kit.balance("alice").available == 1010
    # Stripe's anchor is a few seconds off ours: the periods become Stripe's.
    start = first.current_period_end - timedelta(seconds=7)
    for number in (1, 2, 3):
        end = add_months(start, 1)
        clock.set(start + timedelta(hours=1))  # Stripe pays an invoice about an hour in
        # Before the invoice is paid the clock has passed the period's end: no renewal, no line.
        lines = len(stripe_kit.billing_lines("alice"))
        assert stripe_kit.balance("alice").available == 0
        item = stripe_fake.invoice(subscribed, start, end)
        outcome = stripe_kit.handle_webhook(
            "stripe", *stripe_event("invoice.paid", item, f"evt_{number}")
        )
        assert outcome.applied
        subscription = stripe_kit.subscription("alice")
        assert subscription is not None
        assert (subscription.current_period_start, subscription.current_period_end) == (start, end)
        assert subscription.status is SubscriptionStatus.ACTIVE
        assert stripe_kit.balance("alice").available == 1000
        assert len(stripe_kit.billing_lines("alice")) == lines + 1
        # The same invoice again, under another event id: nothing granted or paid twice.
        stripe_kit.handle_webhook("stripe", *stripe_event("invoice.paid", item, f"evt_{number}b"))
        assert stripe_kit.balance("alice").available == 1000
        start = end
    assert count_rows(stripe_kit, "payments") == 4
    receipts = stripe_kit.receipts("alice").items
    assert [receipt.kind for receipt in receipts] == [ReceiptKind.SUBSCRIPTION] * 4
    assert stripe_kit.run_due_renewals().attempted == 0  # Stripe collects: nothing charged here


def test_a_failed_invoice_is_past_due_then_the_default_plan_after_grace(
    stripe_kit: CreditKit, stripe_fake: FakeStripe, subscribed: str, clock: ManualClock
) -> None:
    first = stripe_kit.subscription("alice")
    assert first is not None
    start = first.current_period_end
    clock.set(start + timedelta(hours=1))
    failed = stripe_fake.invoice(subscribed, start, add_months(start, 1), paid=False)
    stripe_kit.handle_webhook("stripe", *stripe_event("invoice.payment_failed", failed, "evt_f"))
    subscription = stripe_kit.subscription("alice")
    assert subscription is not None and subscription.status is SubscriptionStatus.PAST_DUE
    assert subscription.current_period_end == start  # the unpaid period has not started
    assert stripe_kit.balance("alice").available == 0
    [renewal] = [
        payment
        for payment in (stripe_kit.payment(number) for number in (1, 2))
        if payment.kind is PaymentKind.RENEWAL
    ]
    assert renewal.status is PaymentStatus.FAILED

    clock.advance(days=6)  # within the 7 days of grace: still pro, past due
    assert stripe_kit.plan_of("alice").id == "pro"
    clock.advance(days=2)
    assert stripe_kit.plan_of("alice").id == "free"
    assert stripe_kit.balance("alice").available == 10
    # Paid after the grace period: the customer is on the free plan, nothing is renewed.
    paid = {**failed, "status": "paid", "amount_paid": failed["amount_due"]}
    stripe_kit.handle_webhook("stripe", *stripe_event("invoice.paid", paid, "evt_late"))
    assert stripe_kit.plan_of("alice").id == "free"
    assert stripe_kit.balance("alice").available == 10


def test_a_failed_invoice_paid_in_grace_starts_its_period(
    stripe_kit: CreditKit, stripe_fake: FakeStripe, subscribed: str, clock: ManualClock
) -> None:
    first = stripe_kit.subscription("alice")
    assert first is not None
    start = first.current_period_end
    clock.set(start + timedelta(hours=1))
    failed = stripe_fake.invoice(subscribed, start, add_months(start, 1), paid=False)
    stripe_kit.handle_webhook("stripe", *stripe_event("invoice.payment_failed", failed, "evt_f"))
    clock.advance(days=3)  # Stripe's retry succeeds
    paid = {**failed, "status": "paid", "amount_paid": failed["amount_due"]}
    stripe_kit.handle_webhook("stripe", *stripe_event("invoice.paid", paid, "evt_p"))
    subscription = stripe_kit.subscription("alice")
    assert subscription is not None and subscription.status is SubscriptionStatus.ACTIVE
    assert subscription.current_period_start == start
    assert stripe_kit.balance("alice").available == 1000
    clock.advance(days=10)  # past where the grace period would have ended
    assert stripe_kit.plan_of("alice").id == "pro"


def _parsed(item: dict[str, object]) -> ProviderEvent:
    provider = StripeProvider("sk_test_fake", STRIPE_SECRET, base_url="http://127.0.0.1:9")
    return provider.parse_event(*stripe_event("invoice.paid", item, "evt_parse"))


def test_the_period_is_the_subscription_lines_in_either_api_version() -> None:
    line = {"type": "subscription", "period": {"start": 1_767_225_600, "end": 1_769_904_000}}
    older = _parsed({"id": "in_1", "subscription": "sub_1", "lines": {"data": [line]}})
    newer_line = {
        "parent": {"type": "subscription_item_details"},
        "period": {"start": 1_767_225_600, "end": 1_769_904_000},
    }
    item_line = {"type": "invoiceitem", "period": {"start": 1, "end": 2}}
    newer = _parsed({
        "id": "in_1",
        "parent": {"subscription_details": {"subscription": "sub_1"}},
        "lines": {"data": [item_line, newer_line]},
    })  # fmt: skip
    for event in (older, newer):
        assert event.subscription_reference == "sub_1"
        assert (event.period_start, event.period_end) == (
            datetime(2026, 1, 1, tzinfo=UTC),
            datetime(2026, 2, 1, tzinfo=UTC),
        )
    assert _parsed({"id": "in_2", "subscription": "sub_1"}).period_start is None


@pytest.mark.parametrize(
    "period", [{"start": 10, "end": 10}, {"start": "soon", "end": 20}, {"start": 10}, "a month"]
)
def test_a_malformed_line_period_is_refused(period: object) -> None:
    line = {"type": "subscription", "period": period}
    with pytest.raises(WebhookRejected):
        _parsed({"id": "in_1", "subscription": "sub_1", "lines": {"data": [line]}})
