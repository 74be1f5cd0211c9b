"""Checkout, the sandbox's payment, refunds, receipts and auto top-up over HTTP equal the
embedded kit's, errors included."""

from __future__ import annotations

import dataclasses

from client_helpers import assert_same_error, raised

from creditkit import CreditKit, Money
from creditkit.catalog import UnknownCoupon, UnknownPack
from creditkit.client import Client
from creditkit.payments.errors import (
    CouponNotApplicable,
    PaymentNotFound,
    ReceiptNotFound,
    RefundRefused,
)
from creditkit.payments.sandbox import CARD_DECLINED
from creditkit.payments.schemas import PaymentStatus, ReceiptKind

URLS = {"success_url": "https://app.example/paid", "cancel_url": "https://app.example/"}


def test_a_pack_is_bought_receipted_and_refunded_as_on_the_kit(
    client: Client, kit: CreditKit
) -> None:
    client.create_customer("ada")
    session = client.checkout(
        "ada", pack="credits_500", coupon="launch", idempotency_key="order-1", **URLS
    )
    assert session == kit.checkout(
        "ada", pack="credits_500", coupon="launch", idempotency_key="order-1", **URLS
    )
    assert session.amount == Money(400, "USD")  # 20% off

    paid = client.complete_sandbox_checkout(session.session_id)
    assert paid.applied and paid.payment_id == session.payment_id
    assert kit.complete_sandbox_checkout(session.session_id) == dataclasses.replace(
        paid, applied=False
    )  # paid once
    assert client.complete_sandbox_checkout(session.session_id).applied is False
    payment = client.payment(session.payment_id)
    assert payment == kit.payment(session.payment_id)
    assert payment.status is PaymentStatus.SUCCEEDED
    assert client.balance("ada").available == 100 + 500

    page = client.receipts("ada", limit=1)
    assert page == kit.receipts("ada", limit=1)
    (receipt,) = page.items
    assert receipt.kind is ReceiptKind.PURCHASE and receipt.total == Money(400, "USD")
    assert client.receipt(receipt.id) == kit.receipt(receipt.id)

    refund = client.refund(session.payment_id)
    assert (refund.credits, refund.amount) == (500, Money(400, "USD"))
    assert client.payment(session.payment_id) == kit.payment(session.payment_id)
    assert client.balance("ada").available == 100
    assert client.refund(session.payment_id) == refund == kit.refund(session.payment_id)  # once


def test_a_declined_card_fails_the_payment(client: Client, kit: CreditKit) -> None:
    client.create_customer("ada")
    session = client.checkout("ada", plan="pro", interval="year", **URLS)
    declined = client.complete_sandbox_checkout(session.session_id, card=CARD_DECLINED)
    assert declined.payment_id == session.payment_id
    payment = client.payment(session.payment_id)
    assert payment == kit.payment(session.payment_id)
    assert payment.status is PaymentStatus.FAILED
    assert client.subscription("ada") == kit.subscription("ada")
    refused = raised(lambda: client.refund(session.payment_id))
    assert isinstance(refused, RefundRefused)
    assert_same_error(refused, raised(lambda: kit.refund(session.payment_id)))


def test_payment_errors_are_the_kits(client: Client, kit: CreditKit) -> None:
    client.create_customer("ada")
    calls = [
        (lambda ck: ck.payment(999), PaymentNotFound),
        (lambda ck: ck.receipt(999), ReceiptNotFound),
        (lambda ck: ck.checkout("ada", pack="nope", idempotency_key="o1", **URLS), UnknownPack),
        (
            lambda ck: ck.checkout(
                "ada", pack="credits_500", coupon="nope", idempotency_key="o2", **URLS
            ),
            UnknownCoupon,
        ),
        (
            lambda ck: ck.checkout(
                "ada", pack="credits_2000", coupon="launch", idempotency_key="o3", **URLS
            ),
            CouponNotApplicable,
        ),
    ]
    for call, error in calls:
        remote = raised(lambda: call(client))  # noqa: B023 (called at once)
        assert isinstance(remote, error)
        assert_same_error(remote, raised(lambda: call(kit)))  # noqa: B023


def test_an_auto_top_up_is_set_read_and_disabled(client: Client, kit: CreditKit) -> None:
    client.create_customer("ada")
    client.save_payment_method("ada", "pm_card_visa")
    settings = client.set_auto_top_up("ada", "credits_500", threshold=20, per_day_max=2)
    assert settings == kit.auto_top_up("ada")
    assert (settings.threshold, settings.per_day_max, settings.unit) == (20, 2, "credits")
    assert client.auto_top_up("ada") == settings
    client.charge("ada", 90)
    with kit.worker() as worker:
        assert worker.run_once().payments_succeeded == 1  # charged the saved method
    assert client.balance("ada").available == 10 + 500
    assert client.disable_auto_top_up("ada") is True
    assert client.disable_auto_top_up("ada") is False
    assert kit.disable_auto_top_up("ada") is False
    assert client.auto_top_up("ada") is None
