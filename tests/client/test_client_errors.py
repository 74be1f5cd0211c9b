"""``Client`` raises the error ``CreditKit`` raises, rebuilt from the problem+json body: the
same class, attributes (typed) and message; refusals of the HTTP layer are ``ApiError``."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from client_helpers import assert_same_error, raised

from creditkit import (
    CreditKit,
    CreditKitError,
    HoldAlreadyReleased,
    HoldAmountExceeded,
    HoldExpired,
    HoldNotFound,
    IdempotencyConflict,
    InsufficientCredits,
    InvalidAmount,
    InvalidRequest,
    ManualClock,
    Money,
    UnknownCustomer,
)
from creditkit.api.problems import error_body
from creditkit.catalog import UnknownPlan
from creditkit.client import ApiError, Client, PackOffer, PaymentRequired, UpgradeOffer
from creditkit.client.problems import error_from_problem
from creditkit.keys.schemas import Scope
from creditkit.notify import errors as notify_errors
from creditkit.payments import errors as payment_errors


def test_short_credits_are_insufficient_credits_with_what_would_cover_them(
    client: Client, kit: CreditKit
) -> None:
    client.create_customer("ada")
    short = raised(lambda: client.charge("ada", 150, idempotency_key="c1"))
    assert_same_error(short, raised(lambda: kit.charge("ada", 150, idempotency_key="c1")))
    assert isinstance(short, PaymentRequired) and isinstance(short, InsufficientCredits)
    assert (short.available, short.required) == (100, 150)
    assert short.packs == (
        PackOffer("credits_500", 500, Money(500, "USD"), "500 credits"),
        PackOffer("credits_2000", 2000, Money(1800, "USD"), "2,000 credits"),
    )
    assert short.upgrade_to == "pro"
    # The plan's name and price come with its id: a paywall needs no second call.
    assert short.upgrade == UpgradeOffer("pro", "Pro", Money(2000, "USD"), "month")


def test_a_shortfall_in_a_decimal_unit_keeps_its_decimal_places(
    client: Client, kit: CreditKit
) -> None:
    client.create_customer("ada")
    client.grant("ada", "5.00", unit="usd", idempotency_key="g1")
    short = raised(lambda: client.charge("ada", "7.25", unit="usd", idempotency_key="c1"))
    embedded = raised(lambda: kit.charge("ada", "7.25", unit="usd", idempotency_key="c1"))
    assert_same_error(short, embedded)
    assert isinstance(short, InsufficientCredits)
    assert repr(short.available) == repr(Decimal("5.00"))


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda ck: ck.balance("nobody"), UnknownCustomer),
        (lambda ck: ck.charge("ada", "0.001", unit="usd", idempotency_key="c"), InvalidAmount),
        (lambda ck: ck.charge("ada", 1.5, idempotency_key="c"), InvalidAmount),
        (lambda ck: ck.charge("ada", 1, unit="gold", idempotency_key="c"), InvalidRequest),
        (lambda ck: ck.hold(999), HoldNotFound),
        (lambda ck: ck.change_plan("ada", "platinum"), UnknownPlan),
    ],
    ids=["unknown customer", "too fine", "float", "unknown unit", "no hold", "unknown plan"],
)
def test_errors_are_the_kits(
    client: Client,
    kit: CreditKit,
    call: Callable[[Client | CreditKit], Any],
    error: type[CreditKitError],
) -> None:
    client.create_customer("ada")
    remote = raised(lambda: call(client))
    assert isinstance(remote, error)
    assert_same_error(remote, raised(lambda: call(kit)))


def test_hold_errors_are_the_kits(client: Client, kit: CreditKit) -> None:
    client.create_customer("ada")
    hold = client.reserve("ada", 10, idempotency_key="r1")
    too_much = raised(lambda: client.commit(hold.id, 11, idempotency_key="k1"))
    assert isinstance(too_much, HoldAmountExceeded)
    assert_same_error(too_much, raised(lambda: kit.commit(hold.id, 11, idempotency_key="k1")))
    client.release(hold.id, idempotency_key="x1")
    late = raised(lambda: client.commit(hold.id, 1, idempotency_key="k2"))
    assert isinstance(late, HoldAlreadyReleased)
    assert_same_error(late, raised(lambda: kit.commit(hold.id, 1, idempotency_key="k3")))


def test_an_expired_hold_says_when_it_expired(
    client: Client, kit: CreditKit, clock: ManualClock
) -> None:
    client.create_customer("ada")
    hold = client.reserve("ada", 10, idempotency_key="r1", timeout_seconds=60)
    clock.advance(seconds=61)
    expired = raised(lambda: client.commit(hold.id, 5, idempotency_key="k1"))
    assert isinstance(expired, HoldExpired)
    assert expired.expires_at == hold.expires_at  # a datetime again
    assert_same_error(expired, raised(lambda: kit.commit(hold.id, 5, idempotency_key="k1")))


def test_a_key_reused_for_another_request_is_a_conflict(client: Client, kit: CreditKit) -> None:
    client.create_customer("ada")
    client.charge("ada", 3, idempotency_key="c1")
    conflict = raised(lambda: client.charge("ada", 4, idempotency_key="c1"))
    assert isinstance(conflict, IdempotencyConflict)
    assert (conflict.field, conflict.first, conflict.second) == ("amount", 3, 4)
    assert_same_error(conflict, raised(lambda: kit.charge("ada", 4, idempotency_key="c1")))


def test_a_key_reused_for_another_customer_write_names_no_field(client: Client) -> None:
    client.create_customer("ada", idempotency_key="signup-1")
    conflict = raised(lambda: client.create_customer("bob", idempotency_key="signup-1"))
    assert isinstance(conflict, IdempotencyConflict)
    assert conflict.idempotency_key == "signup-1"
    assert conflict.field is None


def test_a_request_the_api_refuses_names_its_field(client: Client) -> None:
    client.create_customer("ada")
    invalid = raised(lambda: client.charge("ada", action="chat_message", quantity=0))
    assert type(invalid) is InvalidRequest
    assert invalid.field == "quantity"


def test_refusals_of_the_http_layer_are_api_errors(
    client: Client, kit: CreditKit, base_url: str
) -> None:
    client.create_customer("ada")
    with Client(base_url, "ck_secret_unknown") as stranger:
        unauthorized = raised(lambda: stranger.balance("ada"))
    assert isinstance(unauthorized, ApiError)
    assert (unauthorized.status, unauthorized.problem) == (401, "unauthorized")
    reader = kit.keys.create_key("reader", Scope.READ).secret
    with Client(base_url, reader) as read_only:
        forbidden = raised(lambda: read_only.charge("ada", 1))
    assert isinstance(forbidden, ApiError)
    assert (forbidden.status, forbidden.problem) == (403, "scope_insufficient")
    assert forbidden.facts["required_scope"] == "charge"


def test_an_answer_that_is_not_a_problem_is_an_api_error() -> None:
    error = error_from_problem(502, None, "<html>Bad gateway</html>")
    assert isinstance(error, ApiError)
    assert (error.status, error.problem) == (502, "http_502")
    assert error.detail == "<html>Bad gateway</html>"


@pytest.mark.parametrize(
    "error",
    [
        payment_errors.UnknownProvider("paypal"),
        payment_errors.PaymentNotFound(7),
        payment_errors.ReceiptNotFound(8),
        payment_errors.CouponNotApplicable("launch", "is not for this pack"),
        payment_errors.RefundRefused(7, "the payment is failed"),
        payment_errors.WebhookRejected("stripe", "no signature"),
        payment_errors.ProviderError("stripe", "timed out"),
        notify_errors.WebhookEndpointNotFound(3),
        notify_errors.InvalidSignature("too old"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_payment_and_notify_errors_are_rebuilt_from_the_apis_body(error: CreditKitError) -> None:
    """Every error class of payments and notify, as the API writes it and the client reads it
    back (the client tests trigger the ones a client can meet; this covers them all)."""
    status, body = error_body(error, lambda _error: {})
    rebuilt = error_from_problem(status, json.loads(json.dumps(body)), json.dumps(body))
    assert type(rebuilt) is type(error)
    assert_same_error(rebuilt, error)
