"""Checkouts on the sandbox: a pack granted once at the amount paid, a plan started, a declined
card, idempotency, and the checks made before anything is written."""

from __future__ import annotations

import pytest
from payments_support import URLS, count_rows, outbox

from creditkit import (
    CreditKit,
    GrantSource,
    IdempotencyConflict,
    InvalidRequest,
    ManualClock,
    Money,
    PurchaseLimitReached,
    SubscriptionStatus,
)
from creditkit.catalog import UnknownCoupon, UnknownPack
from creditkit.notify.schemas import EventType
from creditkit.payments import (
    CARD_DECLINED,
    CheckoutClosed,
    CouponNotApplicable,
    PaymentKind,
    PaymentStatus,
    ReceiptKind,
    ReceiptLine,
)


def test_a_pack_is_granted_once_paid_at_the_amount_paid(kit: CreditKit) -> None:
    session = kit.checkout("alice", pack="small", coupon="dollar", idempotency_key="k1", **URLS)
    assert session.url == f"sandbox://checkout/{session.session_id}"
    assert (session.subtotal, session.discount, session.amount) == (
        Money(1000, "USD"), Money(100, "USD"), Money(900, "USD"),
    )  # fmt: skip
    assert kit.payment(session.payment_id).status is PaymentStatus.PENDING
    assert kit.balance("alice").available == 10  # the free plan's allowance only

    outcome = kit.complete_sandbox_checkout(session.session_id)

    assert outcome.applied and outcome.payment_id == session.payment_id
    payment = kit.payment(session.payment_id)
    assert (payment.status, payment.kind) == (PaymentStatus.SUCCEEDED, PaymentKind.PACK)
    assert kit.balance("alice").available == 310
    grant = next(g for g in kit.balance("alice").grants if g.grant_id == payment.grant_id)
    assert (grant.source, grant.remaining) == (GrantSource.PURCHASE, 300)
    receipt = kit.receipts("alice").items[0]
    assert (receipt.kind, receipt.total, receipt.payment_id) == (
        ReceiptKind.PURCHASE, Money(900, "USD"), session.payment_id,
    )  # fmt: skip
    assert receipt.lines == (
        ReceiptLine("300 credits", 1000), ReceiptLine("A dollar off (100 USD off)", -100),
    )  # fmt: skip
    [event] = outbox(kit, EventType.PAYMENT_SUCCEEDED)
    assert event.data["payment_id"] == session.payment_id
    assert (event.data["amount_minor"], event.data["receipt_number"]) == (900, receipt.number)
    assert kit.audit().ok


def test_the_grant_keeps_the_amount_paid_as_its_cost_basis(kit: CreditKit) -> None:
    session = kit.checkout("alice", pack="small", coupon="dollar", idempotency_key="k1", **URLS)
    kit.complete_sandbox_checkout(session.session_id)
    grant_id = kit.payment(session.payment_id).grant_id
    with kit._database.read() as connection:
        row = connection.exec_driver_sql(
            f"SELECT cost_basis_minor, currency FROM grants WHERE account_id = {grant_id}"
        ).one()
    assert tuple(row) == (900, "USD")


def test_a_replayed_completion_grants_nothing_twice(kit: CreditKit) -> None:
    session = kit.checkout("alice", pack="small", idempotency_key="k1", **URLS)
    assert kit.complete_sandbox_checkout(session.session_id).applied
    again = kit.complete_sandbox_checkout(session.session_id)
    assert not again.applied
    assert kit.balance("alice").available == 310
    assert len(outbox(kit, EventType.PAYMENT_SUCCEEDED)) == 1
    assert count_rows(kit, "receipts") == 1


def test_a_declined_card_fails_the_payment_and_says_so(kit: CreditKit) -> None:
    session = kit.checkout("alice", pack="small", idempotency_key="k1", **URLS)
    assert kit.complete_sandbox_checkout(session.session_id, card=CARD_DECLINED).applied
    payment = kit.payment(session.payment_id)
    assert (payment.status, payment.failure_reason) == (PaymentStatus.FAILED, "card_declined")
    assert kit.balance("alice").available == 10
    [event] = outbox(kit, EventType.PAYMENT_FAILED)
    assert event.data["reason"] == "card_declined"
    assert kit.receipts("alice").items == ()
    # Paying the failed session again says it has ended, and pays nothing out.
    with pytest.raises(CheckoutClosed):
        kit.complete_sandbox_checkout(session.session_id)
    assert kit.balance("alice").available == 10


def test_a_plan_checkout_starts_a_run_of_periods_when_paid(
    kit: CreditKit, clock: ManualClock
) -> None:
    clock.advance(days=10)
    session = kit.checkout("alice", plan="pro", interval="year", idempotency_key="k1", **URLS)
    assert session.amount == Money(27800, "USD")
    assert kit.plan_of("alice").id == "free"
    kit.complete_sandbox_checkout(session.session_id)
    subscription = kit.subscription("alice")
    assert subscription is not None
    assert (subscription.plan, subscription.interval, subscription.status) == (
        "pro", "year", SubscriptionStatus.ACTIVE,
    )  # fmt: skip
    assert subscription.current_period_start == clock()
    assert kit.balance("alice").available == 1010
    assert kit.receipts("alice").items[0].kind is ReceiptKind.SUBSCRIPTION
    assert kit.billing_lines("alice")[0].amount == Money(27800, "USD")


def test_the_same_key_returns_the_same_session(kit: CreditKit) -> None:
    first = kit.checkout("alice", pack="small", idempotency_key="k1", **URLS)
    second = kit.checkout("alice", pack="small", idempotency_key="k1", **URLS)
    assert second == first
    assert count_rows(kit, "payments") == 1


def test_the_same_key_for_another_checkout_is_a_conflict(kit: CreditKit) -> None:
    kit.checkout("alice", pack="small", idempotency_key="k1", **URLS)
    with pytest.raises(IdempotencyConflict) as raised:
        kit.checkout("alice", pack="once", idempotency_key="k1", **URLS)
    assert (raised.value.field, raised.value.first, raised.value.second) == (
        "pack", "small", "once",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("arguments", "error", "field"),
    [
        ({}, InvalidRequest, "pack"),
        ({"pack": "small", "plan": "pro"}, InvalidRequest, "pack"),
        ({"pack": "nope"}, UnknownPack, "pack"),
        ({"pack": "free_trial"}, InvalidRequest, "pack"),
        ({"plan": "free"}, InvalidRequest, "interval"),
        ({"plan": "pro", "interval": "week"}, InvalidRequest, "interval"),
        ({"pack": "small", "coupon": "nope"}, UnknownCoupon, "coupon"),
        ({"pack": "small", "coupon": "annual"}, CouponNotApplicable, "coupon"),
        ({"pack": "small", "coupon": "lapsed"}, CouponNotApplicable, "coupon"),
        ({"pack": "small", "success_url": ""}, InvalidRequest, "success_url"),
    ],
)
def test_bad_checkouts_are_refused_before_anything_is_written(
    kit: CreditKit, arguments: dict[str, str], error: type[InvalidRequest], field: str
) -> None:
    with pytest.raises(error) as raised:
        kit.checkout("alice", idempotency_key="k1", **(URLS | arguments))  # type: ignore[arg-type]
    assert raised.value.field == field
    assert count_rows(kit, "payments") == 0


def test_a_pack_bought_up_to_its_limit_is_refused_at_checkout(kit: CreditKit) -> None:
    session = kit.checkout("alice", pack="once", idempotency_key="k1", **URLS)
    kit.complete_sandbox_checkout(session.session_id)
    with pytest.raises(PurchaseLimitReached):
        kit.checkout("alice", pack="once", idempotency_key="k2", **URLS)


def test_two_checkouts_opened_before_either_was_paid_grant_the_limit_once(
    kit: CreditKit,
) -> None:
    first = kit.checkout("alice", pack="once", idempotency_key="k1", **URLS)
    second = kit.checkout("alice", pack="once", idempotency_key="k2", **URLS)
    kit.complete_sandbox_checkout(first.session_id)
    kit.complete_sandbox_checkout(second.session_id)
    assert kit.balance("alice").available == 10 + 50  # one pack, not two
    refused = kit.payment(second.payment_id)
    assert refused.status is PaymentStatus.FAILED and refused.grant_id is None
    assert "purchase_limit_reached" in (refused.failure_reason or "")
    assert kit.payment(first.payment_id).status is PaymentStatus.SUCCEEDED
    assert kit.audit().ok


def test_the_plan_in_force_is_not_sold_again(kit: CreditKit) -> None:
    session = kit.checkout("alice", plan="pro", idempotency_key="k1", **URLS)
    kit.complete_sandbox_checkout(session.session_id)
    with pytest.raises(InvalidRequest) as raised:
        kit.checkout("alice", plan="pro", idempotency_key="k2", **URLS)
    assert raised.value.field == "plan"
