"""Payments' errors. Each carries its facts as attributes, as every creditkit error does."""

from __future__ import annotations

from creditkit.errors import CreditKitError, InvalidRequest


class UnknownProvider(InvalidRequest, LookupError):
    code = "unknown_provider"

    def __init__(self, provider: str) -> None:
        super().__init__("provider", f"no payment provider {provider!r} is configured")
        self.provider = provider


class PaymentNotFound(CreditKitError, LookupError):
    code = "payment_not_found"

    def __init__(self, payment_id: int) -> None:
        super().__init__(f"no payment {payment_id}")
        self.payment_id = payment_id


class CheckoutNotFound(CreditKitError, LookupError):
    code = "checkout_not_found"

    def __init__(self, session_id: str) -> None:
        super().__init__(f"no checkout session {session_id!r}")
        self.session_id = session_id


class CheckoutClosed(CreditKitError):
    """The checkout's payment has ended without being paid (a declined card, an expired
    session): paying it now takes nothing and grants nothing. Start a new checkout."""

    code = "checkout_closed"

    def __init__(self, session_id: str, status: object, failure_reason: str | None) -> None:
        reason = "" if failure_reason is None else f" ({failure_reason})"
        status_name = getattr(status, "value", status)
        super().__init__(
            f"checkout session {session_id!r} has ended: its payment is {status_name}{reason};"
            " nothing was charged, start a new checkout"
        )
        self.session_id = session_id
        self.failure_reason = failure_reason


class PortalUnavailable(CreditKitError):
    """The provider has no billing portal (the sandbox: cards are chosen on each checkout)."""

    code = "portal_unavailable"

    def __init__(self, provider: str) -> None:
        super().__init__(f"{provider} has no billing portal: cards are chosen on each checkout")
        self.provider = provider


class ReceiptNotFound(CreditKitError, LookupError):
    code = "receipt_not_found"

    def __init__(self, receipt_id: int) -> None:
        super().__init__(f"no receipt {receipt_id}")
        self.receipt_id = receipt_id


class CouponNotApplicable(InvalidRequest):
    """The coupon exists but cannot be used on this checkout: ``reason`` says why (not for this
    purchase, expired, fully redeemed)."""

    code = "coupon_not_applicable"

    def __init__(self, coupon: str, reason: str) -> None:
        super().__init__("coupon", f"coupon {coupon!r} {reason}")
        self.coupon = coupon
        self.coupon_reason = reason


class RefundRefused(CreditKitError):
    """The payment cannot be refunded: ``reason`` says why (not a credit purchase, outside the
    refund window, not succeeded, nothing unused). Nothing was written."""

    code = "refund_refused"

    def __init__(self, payment_id: int, reason: str) -> None:
        super().__init__(f"payment {payment_id} cannot be refunded: {reason}")
        self.payment_id = payment_id
        self.reason = reason


class WebhookRejected(CreditKitError):
    """A webhook whose signature does not verify, or whose body is no event: nothing applied.
    The HTTP layer answers 400."""

    code = "webhook_rejected"

    def __init__(self, provider: str, reason: str) -> None:
        super().__init__(f"{provider} webhook rejected: {reason}")
        self.provider = provider
        self.reason = reason


class ProviderError(CreditKitError):
    """The payment provider could not be reached, or refused the request for a reason other
    than a declined card. The write it was part of can be retried with the same arguments."""

    code = "provider_error"

    def __init__(self, provider: str, reason: str) -> None:
        super().__init__(f"{provider}: {reason}")
        self.provider = provider
        self.reason = reason
