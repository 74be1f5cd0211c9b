"""``checkout_session``: what a provider's checkout page shows (the item, the amount, whether it
is paid) and where it sends the customer back, read by the session's id."""

from __future__ import annotations

import pytest
from payments_support import URLS

from creditkit import CreditKit, InvalidRequest, Money
from creditkit.payments import (
    CARD_DECLINED,
    CheckoutNotFound,
    PaymentKind,
    PaymentStatus,
    ReceiptLine,
)


def test_a_session_reads_back_its_item_amount_and_return_addresses(kit: CreditKit) -> None:
    session = kit.checkout("alice", pack="small", coupon="dollar", idempotency_key="k1", **URLS)

    state = kit.checkout_session(session.session_id)

    assert (state.session_id, state.url) == (session.session_id, session.url)
    assert (state.success_url, state.cancel_url) == (URLS["success_url"], URLS["cancel_url"])
    payment = state.payment
    assert (payment.id, payment.customer, payment.kind, payment.pack) == (
        session.payment_id, "alice", PaymentKind.PACK, "small",
    )  # fmt: skip
    assert (payment.status, payment.amount) == (PaymentStatus.PENDING, Money(900, "USD"))
    assert payment.lines == (
        ReceiptLine("300 credits", 1000), ReceiptLine("A dollar off (100 USD off)", -100),
    )  # fmt: skip


def test_the_state_follows_the_payment(kit: CreditKit) -> None:
    paid = kit.checkout("alice", plan="pro", interval="year", idempotency_key="k1", **URLS)
    declined = kit.checkout("bob", pack="small", idempotency_key="k2", **URLS)
    kit.complete_sandbox_checkout(paid.session_id)
    kit.complete_sandbox_checkout(declined.session_id, card=CARD_DECLINED)

    assert kit.checkout_session(paid.session_id).payment.status is PaymentStatus.SUCCEEDED
    failed = kit.checkout_session(declined.session_id).payment
    assert (failed.status, failed.failure_reason) == (PaymentStatus.FAILED, "card_declined")


def test_a_retried_checkout_keeps_the_first_return_addresses(kit: CreditKit) -> None:
    first = kit.checkout("alice", pack="small", idempotency_key="k1", **URLS)
    again = kit.checkout(
        "alice",
        pack="small",
        idempotency_key="k1",
        success_url="https://elsewhere.test/paid",
        cancel_url="https://elsewhere.test/cancel",
    )
    assert again.session_id == first.session_id
    assert kit.checkout_session(first.session_id).success_url == URLS["success_url"]


def test_an_unknown_session_is_not_found_and_a_bad_id_names_the_field(kit: CreditKit) -> None:
    with pytest.raises(CheckoutNotFound) as missing:
        kit.checkout_session("cs_sandbox_nothing")
    assert missing.value.session_id == "cs_sandbox_nothing"
    with pytest.raises(InvalidRequest) as bad:
        kit.checkout_session("")
    assert bad.value.field == "session_id"
