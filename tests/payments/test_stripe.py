"""The Stripe provider against a local fake of Stripe's API (fake_stripe.py) and webhooks signed
with the endpoint secret the way Stripe signs them: what is sent to Stripe, and each event
applied exactly once."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from fake_stripe import FakeStripe
from payments_support import URLS, count_rows, outbox, stripe_event

from creditkit import CreditKit, ManualClock, Money, SubscriptionStatus
from creditkit.catalog import Catalog
from creditkit.notify.schemas import EventType
from creditkit.payments import (
    ChargeRunReport,
    PaymentSettings,
    PaymentStatus,
    PortalUnavailable,
    ReceiptKind,
    UnknownProvider,
    WebhookRejected,
)
from creditkit.payments.stripe_provider import StripeProvider


def _paid(kit: CreditKit, fake: FakeStripe, session_id: str, event_id: str = "evt_1") -> None:
    session = fake.pay(session_id)
    payload, headers = stripe_event("checkout.session.completed", session, event_id)
    assert kit.handle_webhook("stripe", payload, headers).applied


def _buy(kit: CreditKit, fake: FakeStripe, key: str = "k1", coupon: str | None = None) -> int:
    session = kit.checkout("alice", pack="small", coupon=coupon, idempotency_key=key, **URLS)
    _paid(kit, fake, session.session_id, event_id=f"evt_{key}")
    return session.payment_id


def test_a_pack_checkout_is_a_payment_session_that_saves_the_card(
    stripe_kit: CreditKit, stripe_fake: FakeStripe
) -> None:
    session = stripe_kit.checkout("alice", pack="small", idempotency_key="k1", **URLS)
    assert session.url == f"https://checkout.stripe.test/{session.session_id}"
    [customer] = stripe_fake.calls("POST", "/v1/customers")
    assert customer.params["metadata[creditkit_customer]"] == "alice"
    [created] = stripe_fake.calls("POST", "/v1/checkout/sessions")
    assert created.idempotency_key == f"creditkit-checkout-{session.payment_id}"
    assert {
        name: created.params[name]
        for name in (
            "mode",
            "line_items[0][price_data][unit_amount]",
            "line_items[0][price_data][currency]",
            "payment_intent_data[setup_future_usage]",
            "metadata[creditkit_payment_id]",
            "client_reference_id",
        )
    } == {
        "mode": "payment",
        "line_items[0][price_data][unit_amount]": "1000",
        "line_items[0][price_data][currency]": "usd",
        "payment_intent_data[setup_future_usage]": "off_session",
        "metadata[creditkit_payment_id]": str(session.payment_id),
        "client_reference_id": "alice",
    }
    # The same checkout again asks Stripe nothing more.
    assert stripe_kit.checkout("alice", pack="small", idempotency_key="k1", **URLS) == session
    assert len(stripe_fake.calls("POST", "/v1/checkout/sessions")) == 1

    _paid(stripe_kit, stripe_fake, session.session_id)
    assert stripe_kit.balance("alice").available == 310
    [retrieved] = stripe_fake.calls("GET", f"/v1/checkout/sessions/{session.session_id}")
    assert retrieved.params["expand[0]"] == "payment_intent"


def test_a_discount_is_a_one_off_stripe_coupon(
    stripe_kit: CreditKit, stripe_fake: FakeStripe
) -> None:
    session = stripe_kit.checkout(
        "alice", pack="small", coupon="dollar", idempotency_key="k1", **URLS
    )
    [coupon] = stripe_fake.calls("POST", "/v1/coupons")
    assert (coupon.params["amount_off"], coupon.params["duration"]) == ("100", "once")
    [created] = stripe_fake.calls("POST", "/v1/checkout/sessions")
    assert created.params["discounts[0][coupon]"].startswith("co_fake_")
    assert session.amount == Money(900, "USD")


def test_a_replayed_webhook_grants_nothing_twice(
    stripe_kit: CreditKit, stripe_fake: FakeStripe
) -> None:
    session = stripe_kit.checkout("alice", pack="small", idempotency_key="k1", **URLS)
    paid = stripe_fake.pay(session.session_id)
    payload, headers = stripe_event("checkout.session.completed", paid, "evt_1")
    assert stripe_kit.handle_webhook("stripe", payload, headers).applied
    assert not stripe_kit.handle_webhook("stripe", payload, headers).applied
    # The same payment reported by another event id is fulfilled once too, and says so.
    payload, headers = stripe_event("checkout.session.completed", paid, "evt_2")
    assert not stripe_kit.handle_webhook("stripe", payload, headers).applied
    assert stripe_kit.balance("alice").available == 310
    assert len(outbox(stripe_kit, EventType.PAYMENT_SUCCEEDED)) == 1


@pytest.mark.parametrize(
    "tamper",
    [
        lambda payload, headers: (payload + b" ", headers),
        lambda payload, headers: (payload, {}),
        lambda payload, headers: (
            payload,
            stripe_event("checkout.session.completed", {}, "evt_1", secret="whsec_other")[1],
        ),
        lambda payload, headers: (b"not json", headers),
    ],
    ids=["body changed", "no signature", "other secret", "not an event"],
)
def test_a_webhook_that_does_not_verify_is_rejected(
    stripe_kit: CreditKit,
    stripe_fake: FakeStripe,
    tamper: Callable[[bytes, dict[str, str]], tuple[bytes, dict[str, str]]],
) -> None:
    session = stripe_kit.checkout("alice", pack="small", idempotency_key="k1", **URLS)
    payload, headers = stripe_event(
        "checkout.session.completed", stripe_fake.pay(session.session_id), "evt_1"
    )
    with pytest.raises(WebhookRejected):
        stripe_kit.handle_webhook("stripe", *tamper(payload, headers))
    assert stripe_kit.payment(session.payment_id).status is PaymentStatus.PENDING
    with pytest.raises(UnknownProvider):
        stripe_kit.handle_webhook("sandbox", payload, headers)


def test_events_of_no_interest_are_answered_not_applied(stripe_kit: CreditKit) -> None:
    payload, headers = stripe_event("customer.created", {"id": "cus_1"}, "evt_1")
    assert not stripe_kit.handle_webhook("stripe", payload, headers).applied
    payload, headers = stripe_event(
        "checkout.session.completed", {"id": "cs_of_another_app", "payment_status": "paid"}, "e2"
    )
    assert not stripe_kit.handle_webhook("stripe", payload, headers).applied


def test_top_ups_are_off_session_payment_intents(
    stripe_kit: CreditKit, stripe_fake: FakeStripe
) -> None:
    _buy(stripe_kit, stripe_fake)
    stripe_kit.set_auto_top_up("alice", "small", threshold=50, per_day_max=2)
    stripe_kit.charge("alice", 270, idempotency_key="c1")
    assert stripe_kit.run_due_top_ups() == ChargeRunReport(1, 1, 0)
    [intent] = stripe_fake.calls("POST", "/v1/payment_intents")
    assert {
        name: intent.params[name]
        for name in ("amount", "currency", "payment_method", "off_session", "confirm")
    } == {
        "amount": "1000",
        "currency": "usd",
        "payment_method": "pm_card_visa",
        "off_session": "true",
        "confirm": "true",
    }
    assert intent.params["customer"].startswith("cus_fake_")
    assert stripe_kit.balance("alice").available == 340

    stripe_kit.save_payment_method("alice", "pm_card_chargeDeclined")
    stripe_kit.charge("alice", 300, idempotency_key="c2")
    assert stripe_kit.run_due_top_ups() == ChargeRunReport(1, 0, 1)
    assert outbox(stripe_kit, EventType.PAYMENT_FAILED)[0].data["reason"] == "card_declined"


def test_a_refund_asks_stripe_for_the_prorated_amount_once(
    stripe_kit: CreditKit, stripe_fake: FakeStripe
) -> None:
    payment_id = _buy(stripe_kit, stripe_fake)
    stripe_kit.charge("alice", 110, idempotency_key="c1")
    refund = stripe_kit.refund(payment_id)
    assert (refund.credits, refund.amount) == (200, Money(667, "USD"))
    [asked] = stripe_fake.calls("POST", "/v1/refunds")
    assert (asked.params["amount"], asked.idempotency_key) == (
        "667", f"creditkit-refund-{payment_id}",
    )  # fmt: skip
    assert asked.params["payment_intent"] == stripe_kit.payment(payment_id).provider_payment_id
    # Stripe tells of the refund it made: nothing more is taken back.
    intent = asked.params["payment_intent"]
    item = {"id": "ch_1", "payment_intent": intent, "amount_refunded": 667, "currency": "usd"}
    stripe_kit.grant("alice", 5, idempotency_key="later")
    assert stripe_kit.handle_webhook("stripe", *stripe_event("charge.refunded", item, "evt_r"))
    assert stripe_kit.balance("alice").available == 5
    assert stripe_kit.audit().ok


def test_a_refund_made_in_the_dashboard_takes_the_unused_credits_back_once(
    stripe_kit: CreditKit, stripe_fake: FakeStripe
) -> None:
    payment_id = _buy(stripe_kit, stripe_fake)
    intent = stripe_kit.payment(payment_id).provider_payment_id
    item = {"id": "ch_1", "payment_intent": intent, "amount_refunded": 1000, "currency": "usd"}
    assert stripe_kit.handle_webhook(
        "stripe", *stripe_event("charge.refunded", item, "evt_a")
    ).applied
    assert stripe_kit.balance("alice").available == 10
    stripe_kit.grant("alice", 5, idempotency_key="later")
    # Another event about the same refund (or a second partial one): nothing taken twice.
    assert stripe_kit.handle_webhook(
        "stripe", *stripe_event("charge.refunded", item, "evt_b")
    ).applied
    assert stripe_kit.balance("alice").available == 15
    payment = stripe_kit.payment(payment_id)
    assert (payment.status, payment.refunded) == (PaymentStatus.REFUNDED, Money(1000, "USD"))
    assert stripe_fake.calls("POST", "/v1/refunds") == []


def test_a_plan_is_a_subscription_session_renewed_by_stripe_invoices(
    stripe_kit: CreditKit, stripe_fake: FakeStripe, clock: ManualClock
) -> None:
    session = stripe_kit.checkout("alice", plan="pro", idempotency_key="k1", **URLS)
    [created] = stripe_fake.calls("POST", "/v1/checkout/sessions")
    assert created.params["mode"] == "subscription"
    # The plan's synced Price, found by its lookup key: the one the billing portal sells.
    [price] = [
        price
        for price in stripe_fake.prices.values()
        if price["id"] == created.params["line_items[0][price]"]
    ]
    assert (price["lookup_key"], price["unit_amount"]) == ("creditkit_pro_v1_month", 2900)
    assert "line_items[0][price_data][unit_amount]" not in created.params
    paid = stripe_fake.pay(session.session_id)
    stripe_kit.handle_webhook("stripe", *stripe_event("checkout.session.completed", paid, "e1"))
    subscription_id = paid["subscription"]
    # The first invoice is the checkout's: no second payment.
    first = {"id": "in_0", "subscription": subscription_id, "billing_reason": "subscription_create"}
    stripe_kit.handle_webhook("stripe", *stripe_event("invoice.paid", first, "e2"))
    assert count_rows(stripe_kit, "payments") == 1
    started = stripe_kit.subscription("alice")
    assert started is not None

    clock.advance(days=31)
    invoice = {
        "id": "in_1", "subscription": subscription_id, "billing_reason": "subscription_cycle",
        "payment_intent": "pi_renewal", "amount_due": 2900, "currency": "usd",
    }  # fmt: skip
    stripe_kit.handle_webhook("stripe", *stripe_event("invoice.payment_failed", invoice, "e3"))
    subscription = stripe_kit.subscription("alice")
    assert subscription is not None and subscription.status is SubscriptionStatus.PAST_DUE
    assert stripe_kit.run_due_renewals() == ChargeRunReport(0, 0, 0)  # Stripe retries, not us
    stripe_kit.handle_webhook("stripe", *stripe_event("invoice.paid", invoice, "e4"))
    subscription = stripe_kit.subscription("alice")
    assert subscription is not None and subscription.status is SubscriptionStatus.ACTIVE
    # An invoice without a subscription line starts the run's next period.
    assert subscription.current_period_start == started.current_period_end
    assert stripe_kit.balance("alice").available == 1000
    assert stripe_kit.receipts("alice").items[0].kind is ReceiptKind.SUBSCRIPTION
    assert count_rows(stripe_kit, "payments") == 2

    ended = {"id": subscription_id, "status": "canceled"}
    stripe_kit.handle_webhook("stripe", *stripe_event("customer.subscription.deleted", ended, "e5"))
    assert stripe_kit.plan_of("alice").id == "free"


@pytest.mark.postgres
def test_concurrent_duplicate_webhooks_apply_once(
    catalog: Catalog, postgres_url: str, stripe_fake: FakeStripe
) -> None:
    provider = StripeProvider("sk_test_fake", "whsec_test_secret", base_url=stripe_fake.url)
    kits = [
        CreditKit(postgres_url, catalog=catalog, payments=PaymentSettings(provider=provider))
        for _ in range(4)
    ]
    try:
        kits[0].create_customer("alice")
        session = kits[0].checkout("alice", pack="small", idempotency_key="k1", **URLS)
        payload, headers = stripe_event(
            "checkout.session.completed", stripe_fake.pay(session.session_id), "evt_1"
        )
        barrier = threading.Barrier(len(kits))
        applied: list[bool] = []

        def deliver(kit: CreditKit) -> None:
            barrier.wait()
            applied.append(kit.handle_webhook("stripe", payload, headers).applied)

        threads = [threading.Thread(target=deliver, args=(kit,)) for kit in kits]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(applied) == [False, False, False, True]
        assert kits[0].balance("alice").available == 310
        assert count_rows(kits[0], "receipts") == 1
        assert len(outbox(kits[0], EventType.PAYMENT_SUCCEEDED)) == 1
        assert kits[0].audit().ok
    finally:
        for kit in kits:
            kit.close()


def test_a_delayed_payment_is_fulfilled_when_it_succeeds(
    stripe_kit: CreditKit, stripe_fake: FakeStripe
) -> None:
    session = stripe_kit.checkout("alice", pack="small", idempotency_key="k1", **URLS)
    unpaid = dict(stripe_fake.sessions[session.session_id])
    stripe_kit.handle_webhook("stripe", *stripe_event("checkout.session.completed", unpaid, "e1"))
    assert stripe_kit.payment(session.payment_id).status is PaymentStatus.PENDING
    paid = stripe_fake.pay(session.session_id)
    event = "checkout.session.async_payment_succeeded"
    assert stripe_kit.handle_webhook("stripe", *stripe_event(event, paid, "e2")).applied
    assert stripe_kit.payment(session.payment_id).status is PaymentStatus.SUCCEEDED
    assert stripe_kit.balance("alice").available == 310


def test_the_billing_portal_is_a_stripe_portal_session_of_the_customer(
    stripe_kit: CreditKit, stripe_fake: FakeStripe
) -> None:
    url = stripe_kit.billing_portal("alice", "https://app.test/account")
    [sent] = stripe_fake.calls("POST", "/v1/billing_portal/sessions")
    [customer] = stripe_fake.calls("POST", "/v1/customers")
    assert sent.params["return_url"] == "https://app.test/account"
    assert sent.params["customer"].startswith("cus_fake_")
    assert customer.params["metadata[creditkit_customer]"] == "alice"
    assert url.startswith("https://billing.stripe.test/p/session/bps_fake_")
    assert stripe_kit.billing_portal("alice", "https://app.test/account") != url  # a new session


def test_the_sandbox_has_no_billing_portal(kit: CreditKit) -> None:
    with pytest.raises(PortalUnavailable) as raised:
        kit.billing_portal("alice", "https://app.test/account")
    assert raised.value.provider == "sandbox"
