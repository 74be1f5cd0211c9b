"""The payment provider interface, and the webhook signature scheme providers share.

A provider is called only outside database transactions: a network call must never hold a
customer's lock. Every call that moves money takes an idempotency key derived from the payment
it serves, so a retried call (a worker that crashed, two workers on one due charge) is one
movement at the provider.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Protocol, runtime_checkable

from creditkit.ledger.schemas import Money
from creditkit.payments.schemas import (
    ChargeResult,
    CheckoutRequest,
    OffSessionCharge,
    PlanPrice,
    ProviderCheckout,
    ProviderEvent,
    ProviderSubscription,
)

#: The header Stripe signs webhooks in; the sandbox signs its own the same way.
SIGNATURE_HEADER = "stripe-signature"
SIGNATURE_SCHEME = "v1"


class PaymentProvider(Protocol):
    """What payments needs of a provider."""

    #: The name webhooks are routed by (``handle_webhook("stripe", …)``).
    name: str
    #: True when the provider charges a subscription's renewals itself and reports them as
    #: invoice events (Stripe); False when creditkit charges them off-session (the sandbox).
    bills_subscriptions: bool

    def create_customer(self, customer: str) -> str:
        """The provider's id for the customer, created once (the call is idempotent per
        customer)."""
        ...

    def create_checkout(self, request: CheckoutRequest) -> ProviderCheckout: ...

    def charge(self, request: OffSessionCharge) -> ChargeResult:
        """Charges a saved payment method without the customer present. A declined card is a
        result; an unreachable provider raises ``ProviderError``."""
        ...

    def refund(self, payment_reference: str, amount: Money, idempotency_key: str) -> str:
        """Returns the provider's refund id."""
        ...

    def portal(self, provider_customer: str, return_url: str) -> str:
        """The address of a page where the customer changes their card or cancels; raises
        ``PortalUnavailable`` where the provider has none."""
        ...

    def parse_event(self, payload: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        """Verifies the webhook's signature and reads its event; raises ``WebhookRejected``."""
        ...


@runtime_checkable
class SubscriptionBilling(Protocol):
    """What a provider that bills subscriptions itself (Stripe) does when creditkit changes a
    plan: each write takes an idempotency key; a subscription ended already stays ended."""

    def subscription_state(self, subscription_id: str) -> ProviderSubscription: ...

    def change_subscription_now(
        self, subscription_id: str, price: PlanPrice, idempotency_key: str
    ) -> ProviderSubscription:
        """To ``price`` now, the rest of the period prorated and charged."""
        ...

    def change_subscription_at_period_end(
        self, subscription_id: str, price: PlanPrice, idempotency_key: str
    ) -> None: ...

    def cancel_subscription_at_period_end(
        self, subscription_id: str, cancel: bool, idempotency_key: str
    ) -> None:
        """Ends it at the period's end (``cancel``) or resumes it; a scheduled change is off."""
        ...

    def cancel_subscription_now(self, subscription_id: str, idempotency_key: str) -> None: ...


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value, whatever the case its name was sent in."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def signature_header(payload: bytes, secret: str, timestamp: int) -> str:
    """``t=<timestamp>,v1=<HMAC-SHA256 of "<timestamp>.<payload>" under the secret>``: how
    Stripe signs a webhook."""
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},{SIGNATURE_SCHEME}={digest}"


def signed_at(value: str) -> int:
    """The ``t=`` timestamp of a signature header ``signature_matches`` accepted."""
    return int(next(item for key, item in _parts(value) if key == "t"))


def _parts(value: str) -> list[list[str]]:
    return [part.split("=", 1) for part in value.split(",") if "=" in part]


def signature_matches(payload: bytes, value: str, secret: str) -> bool:
    """Whether one of the header's ``v1`` signatures is the payload's under ``secret``."""
    parts = _parts(value)
    timestamps = [item for key, item in parts if key == "t"]
    if len(timestamps) != 1 or not timestamps[0].isdigit():
        return False
    expected = signature_header(payload, secret, int(timestamps[0])).rsplit("=", 1)[1]
    return any(
        hmac.compare_digest(expected, item) for key, item in parts if key == SIGNATURE_SCHEME
    )
