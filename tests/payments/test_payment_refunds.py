"""Refunds of credit purchases: the unused credits taken back once, the money prorated and
rounded half up, within the window only."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from payments_support import URLS

from creditkit import CreditKit, ManualClock, Money, TransactionKind
from creditkit.catalog import Catalog
from creditkit.payments import PaymentSettings, PaymentStatus, RefundRefused


def _bought(kit: CreditKit, key: str = "k1", coupon: str | None = None) -> int:
    session = kit.checkout("alice", pack="small", coupon=coupon, idempotency_key=key, **URLS)
    kit.complete_sandbox_checkout(session.session_id)
    return session.payment_id


def test_unused_credits_are_taken_back_and_the_rest_paid_back(kit: CreditKit) -> None:
    payment_id = _bought(kit)
    kit.charge("alice", 10, idempotency_key="c1")  # the free allowance first
    kit.charge("alice", 100, idempotency_key="c2")  # then 100 of the 300 bought
    refund = kit.refund(payment_id)
    # 1000 cents for 300 credits, 200 unused: 666.67 rounds half up to 667.
    assert (refund.status, refund.credits, refund.amount) == (
        PaymentStatus.REFUNDED, 200, Money(667, "USD"),
    )  # fmt: skip
    assert kit.balance("alice").available == 0
    assert kit.history("alice", limit=1).items[0].kind is TransactionKind.REFUND
    payment = kit.payment(payment_id)
    assert (payment.status, payment.refunded) == (PaymentStatus.REFUNDED, Money(667, "USD"))
    assert kit.audit().ok


def test_a_refund_is_made_once(kit: CreditKit) -> None:
    payment_id = _bought(kit)
    first = kit.refund(payment_id)
    kit.grant("alice", 50, idempotency_key="later")
    assert kit.refund(payment_id) == first
    assert kit.balance("alice").available == 60


def test_the_money_is_of_the_amount_paid_after_discounts(kit: CreditKit) -> None:
    payment_id = _bought(kit, coupon="dollar")
    kit.charge("alice", 160, idempotency_key="c1")  # 10 allowance, 150 of the pack
    assert kit.refund(payment_id).amount == Money(450, "USD")  # 900 x 150 / 300


def test_a_refund_after_the_window_is_refused(kit: CreditKit, clock: ManualClock) -> None:
    payment_id = _bought(kit)
    clock.advance(days=14)
    assert kit.refund(payment_id).credits == 300  # the last moment of the window
    other = _bought(kit, key="k2")
    clock.advance(days=14, seconds=1)
    with pytest.raises(RefundRefused) as raised:
        kit.refund(other)
    assert "window" in raised.value.reason
    assert kit.payment(other).status is PaymentStatus.SUCCEEDED


def test_a_purchase_spent_whole_refunds_nothing(kit: CreditKit) -> None:
    payment_id = _bought(kit)
    kit.charge("alice", 310, idempotency_key="all")
    with pytest.raises(RefundRefused) as raised:
        kit.refund(payment_id)
    assert raised.value.reason == "every credit of the purchase is spent"
    assert kit.payment(payment_id).status is PaymentStatus.SUCCEEDED


def test_only_succeeded_credit_purchases_are_refunded(kit: CreditKit) -> None:
    pending = kit.checkout("alice", pack="small", idempotency_key="k1", **URLS)
    with pytest.raises(RefundRefused):
        kit.refund(pending.payment_id)
    plan = kit.checkout("alice", plan="pro", idempotency_key="k2", **URLS)
    kit.complete_sandbox_checkout(plan.session_id)
    with pytest.raises(RefundRefused) as raised:
        kit.refund(plan.payment_id)
    assert raised.value.reason == "plan 'pro' has no refund window"


def test_the_window_is_a_setting(
    make_kit: Callable[..., CreditKit], catalog: Catalog, clock: ManualClock
) -> None:
    kit = make_kit(catalog=catalog, payments=PaymentSettings(refund_window_days=0))
    kit.create_customer("alice")
    payment_id = _bought(kit)
    clock.advance(seconds=1)
    with pytest.raises(RefundRefused):
        kit.refund(payment_id)
