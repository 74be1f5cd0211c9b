"""Renewals creditkit charges itself (the sandbox): each period after the first owes a payment;
a declined one makes the subscription past due for the grace period, retried daily; paid in
time it is active again, else it falls back to the default plan."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from payments_support import URLS, outbox

from creditkit import CreditKit, ManualClock, Money, SubscriptionStatus
from creditkit.catalog import Catalog
from creditkit.notify.schemas import EventType
from creditkit.payments import (
    CARD_DECLINED,
    CARD_SUCCEEDS,
    ChargeRunReport,
    CheckoutClosed,
    PaymentKind,
    PaymentSettings,
    PaymentStatus,
    ReceiptKind,
)


@pytest.fixture
def subscribed(kit: CreditKit, clock: ManualClock) -> CreditKit:
    session = kit.checkout("alice", plan="pro", idempotency_key="k1", **URLS)
    kit.complete_sandbox_checkout(session.session_id)
    return kit


def _next_period(kit: CreditKit, clock: ManualClock) -> None:
    subscription = kit.subscription("alice")
    assert subscription is not None
    clock.set(subscription.current_period_end)


def _status(kit: CreditKit) -> tuple[str, SubscriptionStatus]:
    subscription = kit.subscription("alice")
    assert subscription is not None
    return subscription.plan, subscription.status


def test_the_first_period_is_the_checkouts_and_the_next_one_is_charged(
    subscribed: CreditKit, clock: ManualClock
) -> None:
    assert subscribed.run_due_renewals() == ChargeRunReport(0, 0, 0)
    _next_period(subscribed, clock)
    assert _status(subscribed) == ("pro", SubscriptionStatus.ACTIVE)  # the read renews
    assert subscribed.run_due_renewals() == ChargeRunReport(1, 1, 0)
    assert subscribed.run_due_renewals() == ChargeRunReport(0, 0, 0)
    receipts = subscribed.receipts("alice").items
    assert [receipt.kind for receipt in receipts] == [ReceiptKind.SUBSCRIPTION] * 2
    assert receipts[0].total == Money(2900, "USD")
    assert receipts[0].number == receipts[1].number + 1
    events = outbox(subscribed, EventType.PAYMENT_SUCCEEDED)
    assert [event.data["kind"] for event in events] == [PaymentKind.PLAN, PaymentKind.RENEWAL]


def test_a_declined_renewal_is_past_due_then_paid_in_the_grace_period(
    subscribed: CreditKit, clock: ManualClock
) -> None:
    subscribed.save_payment_method("alice", CARD_DECLINED)
    _next_period(subscribed, clock)
    assert subscribed.run_due_renewals() == ChargeRunReport(1, 0, 1)
    assert _status(subscribed) == ("pro", SubscriptionStatus.PAST_DUE)
    [failed] = outbox(subscribed, EventType.PAYMENT_FAILED)
    assert failed.data["grace_ends_at"] == (clock() + timedelta(days=7)).isoformat()
    assert subscribed.run_due_renewals() == ChargeRunReport(0, 0, 0)  # retried tomorrow

    clock.advance(days=1)
    assert subscribed.run_due_renewals() == ChargeRunReport(1, 0, 1)  # declined again
    subscribed.save_payment_method("alice", CARD_SUCCEEDS)
    clock.advance(days=1)
    assert subscribed.run_due_renewals() == ChargeRunReport(1, 1, 0)
    assert _status(subscribed) == ("pro", SubscriptionStatus.ACTIVE)
    clock.advance(days=10)  # past the grace period's end: nothing falls back
    assert _status(subscribed) == ("pro", SubscriptionStatus.ACTIVE)


def test_unpaid_at_the_end_of_the_grace_period_falls_back_to_the_default_plan(
    subscribed: CreditKit, clock: ManualClock
) -> None:
    subscribed.save_payment_method("alice", CARD_DECLINED)
    _next_period(subscribed, clock)
    subscribed.run_due_renewals()
    [failed] = outbox(subscribed, EventType.PAYMENT_FAILED)
    clock.advance(days=7, microseconds=-1)
    assert _status(subscribed) == ("pro", SubscriptionStatus.PAST_DUE)
    clock.advance(microseconds=1)
    assert _status(subscribed) == ("free", SubscriptionStatus.ACTIVE)
    # The free allowance from now; the unpaid period's allowance stays until the period's end,
    # as credits granted stay on any cancellation (docs/payments.md).
    assert subscribed.balance("alice").available == 1010
    renewal = subscribed.payment(failed.data["payment_id"])
    assert (renewal.kind, renewal.status) == (PaymentKind.RENEWAL, PaymentStatus.FAILED)
    assert renewal.grace_ends_at is None
    assert subscribed.run_due_renewals() == ChargeRunReport(0, 0, 0)
    assert subscribed.audit().ok


def test_the_grace_period_is_a_setting(
    make_kit: Callable[..., CreditKit], catalog: Catalog, clock: ManualClock
) -> None:
    kit = make_kit(catalog=catalog, payments=PaymentSettings(grace_period_days=1))
    kit.create_customer("alice")
    session = kit.checkout("alice", plan="pro", idempotency_key="k1", **URLS)
    kit.complete_sandbox_checkout(session.session_id, card=CARD_DECLINED)
    with pytest.raises(CheckoutClosed):  # a failed checkout cannot be completed later
        kit.complete_sandbox_checkout(session.session_id)
    assert kit.plan_of("alice").id == "free"
    session = kit.checkout("alice", plan="pro", idempotency_key="k2", **URLS)
    kit.complete_sandbox_checkout(session.session_id)
    kit.save_payment_method("alice", CARD_DECLINED)
    _next_period(kit, clock)
    kit.run_due_renewals()
    assert _status(kit) == ("pro", SubscriptionStatus.PAST_DUE)
    clock.advance(days=1)
    assert _status(kit) == ("free", SubscriptionStatus.ACTIVE)
