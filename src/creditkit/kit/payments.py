"""The kit's payments (``CreditKit``'s methods: see kit/__init__.py)."""

from __future__ import annotations

from collections.abc import Mapping

from creditkit.catalog import Pack
from creditkit.errors import Quantity
from creditkit.kit.parts import KitParts
from creditkit.payments.sandbox import CARD_SUCCEEDS
from creditkit.payments.schemas import (
    ChargeRunReport,
    CheckoutSession,
    CheckoutState,
    Payment,
    Receipt,
    ReceiptPage,
    Refund,
    TopUpSettings,
    WebhookOutcome,
)


class KitPayments(KitParts):
    """Checkout, refunds, auto top-ups and receipts (they need a catalog; see docs/payments.md)."""

    def checkout(
        self,
        customer: str,
        *,
        pack: str | None = None,
        plan: str | None = None,
        interval: str = "month",
        coupon: str | None = None,
        success_url: str,
        cancel_url: str,
        idempotency_key: str,
    ) -> CheckoutSession:
        """Starts paying for a ``pack`` or a ``plan`` (by ``interval``): send the customer to
        the session's ``url``. ``amount`` is the price less the best volume discount that
        applies and the ``coupon``. Once paid (a webhook), the pack is granted at the amount
        paid as its cost basis, or the plan starts a new run of periods. Raises
        ``CouponNotApplicable``, ``PurchaseLimitReached``, ``ProviderError`` (retry with the
        same key: it resumes)."""
        return self._payments_required().checkout(
            customer, pack=pack, plan=plan, interval=interval, coupon=coupon,
            success_url=success_url, cancel_url=cancel_url, idempotency_key=idempotency_key,
        )  # fmt: skip

    def handle_webhook(
        self, provider: str, payload: bytes, headers: Mapping[str, str]
    ) -> WebhookOutcome:
        """Verifies a provider's webhook (``payload`` is the raw body) and applies its event
        exactly once. Raises ``WebhookRejected`` (answer 400); otherwise answer 2xx, ``applied``
        or not (a replay, or an event about no payment of this app)."""
        return self._payments_required().handle_webhook(provider, payload, headers)

    def complete_sandbox_checkout(
        self, session_id: str, *, card: str = CARD_SUCCEEDS
    ) -> WebhookOutcome:
        """Pays a sandbox checkout with a test ``card``: ``4242424242424242`` succeeds,
        ``4000000000000002`` is declined. Only with the sandbox provider."""
        return self._payments_required().complete_sandbox_checkout(session_id, card)

    def checkout_session(self, session_id: str) -> CheckoutState:
        """The checkout the provider knows as ``session_id``: its payment (what it sells, the
        amount, whether it is paid) and where the customer goes back to. Raises
        ``CheckoutNotFound``. The sandbox's checkout page reads it."""
        return self._payments_required().checkout_session(session_id)

    def billing_portal(self, customer: str, return_url: str) -> str:
        """The provider's page (Stripe's billing portal) where the customer changes their
        card or cancels; ``PortalUnavailable`` on the sandbox, which has none."""
        return self._payments_required().billing_portal(customer, return_url)

    def packs_for_sale(self, customer: str) -> list[Pack]:
        """The packs ``customer`` can buy through checkout now: priced, and under their
        ``purchase_limit``."""
        return self._payments_required().packs_for_sale(customer)

    def payment(self, payment_id: int) -> Payment:
        """Raises ``PaymentNotFound``."""
        return self._payments_required().payment(payment_id)

    def refund(self, payment_id: int) -> Refund:
        """Refunds a pack or top-up within the refund window (default 14 days): its unused
        credits are taken back and the price times unused over granted is returned. Once per
        payment; raises ``RefundRefused`` (outside the window, all spent, not a purchase)."""
        return self._payments_required().refund(payment_id)

    def save_payment_method(self, customer: str, payment_method: str) -> None:
        """The payment method auto top-ups and renewals charge (a checkout saves its own)."""
        self._payments_required().save_payment_method(customer, payment_method)

    def set_auto_top_up(
        self,
        customer: str,
        pack: str,
        *,
        threshold: Quantity | str,
        per_day_max: int = 1,
        target: Quantity | str | None = None,
    ) -> TopUpSettings:
        """Buys ``pack`` with the saved payment method when the available balance of its unit
        falls under ``threshold``, at most ``per_day_max`` times a UTC day: one pack, or with
        ``target`` as many packs as fill the balance to at least ``target`` (one payment). The
        charge is made by ``run_due_top_ups`` (the worker), never inside the spending charge."""
        return self._payments_required().set_auto_top_up(
            customer, pack, threshold, per_day_max, target
        )

    def auto_top_up(self, customer: str) -> TopUpSettings | None:
        return self._payments_required().auto_top_up(customer)

    def disable_auto_top_up(self, customer: str) -> bool:
        """True when the customer had an auto top-up."""
        return self._payments_required().disable_auto_top_up(customer)

    def run_due_top_ups(self, limit: int = 500) -> ChargeRunReport:
        """Charges the pending auto top-ups (for the worker; safe from several at once)."""
        return self._payments_required().run_due_top_ups(limit)

    def run_due_renewals(self, limit: int = 500) -> ChargeRunReport:
        """Charges the renewals creditkit bills itself (sandbox) and retries declined ones in
        their grace period (for the worker; Stripe charges its own renewals)."""
        return self._payments_required().run_due_renewals(limit)

    def receipts(self, customer: str, *, limit: int = 50, cursor: str | None = None) -> ReceiptPage:
        """The customer's numbered receipts, newest first: succeeded payments and overage
        statements. Pass ``next_cursor`` for older ones."""
        return self._payments_required().receipts(customer, limit, cursor)

    def receipt(self, receipt_id: int) -> Receipt:
        """Raises ``ReceiptNotFound``."""
        return self._payments_required().receipt(receipt_id)
