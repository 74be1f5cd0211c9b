"""Payments: a provider interface with two providers (the offline sandbox, Stripe), checkouts
of packs and plans, webhooks applied exactly once, refunds, renewals with a grace period, auto
top-ups, coupons and discounts, and numbered receipts. See docs/payments.md.

``StripeProvider`` is imported from ``creditkit.payments.stripe_provider``: the Stripe SDK takes a
fifth of a second to import, which an embedded kit on the sandbox should not pay. Nor is
``PaymentSettings`` imported with the package (it is on first use): its service needs the store,
and the HTTP client, which reads this package's errors and schemas, must load without it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from creditkit.payments.errors import (
    CheckoutClosed,
    CheckoutNotFound,
    CouponNotApplicable,
    PaymentNotFound,
    PortalUnavailable,
    ProviderError,
    ReceiptNotFound,
    RefundRefused,
    UnknownProvider,
    WebhookRejected,
)
from creditkit.payments.providers import PaymentProvider
from creditkit.payments.sandbox import CARD_DECLINED, CARD_SUCCEEDS, SandboxProvider
from creditkit.payments.schemas import (
    ChargeRunReport,
    CheckoutSession,
    CheckoutState,
    Payment,
    PaymentKind,
    PaymentStatus,
    Receipt,
    ReceiptKind,
    ReceiptLine,
    ReceiptPage,
    Refund,
    TopUpSettings,
    WebhookOutcome,
)

if TYPE_CHECKING:
    from creditkit.payments.service import PaymentSettings


def __getattr__(name: str) -> Any:
    if name != "PaymentSettings":
        raise AttributeError(f"module 'creditkit.payments' has no attribute {name!r}")
    from creditkit.payments.service import PaymentSettings

    return PaymentSettings


__all__ = [
    "CARD_DECLINED",
    "CARD_SUCCEEDS",
    "ChargeRunReport",
    "CheckoutClosed",
    "CheckoutNotFound",
    "CheckoutSession",
    "CheckoutState",
    "CouponNotApplicable",
    "Payment",
    "PaymentKind",
    "PaymentNotFound",
    "PaymentProvider",
    "PaymentSettings",
    "PaymentStatus",
    "PortalUnavailable",
    "ProviderError",
    "Receipt",
    "ReceiptKind",
    "ReceiptLine",
    "ReceiptNotFound",
    "ReceiptPage",
    "Refund",
    "RefundRefused",
    "SandboxProvider",
    "TopUpSettings",
    "UnknownProvider",
    "WebhookOutcome",
    "WebhookRejected",
]
