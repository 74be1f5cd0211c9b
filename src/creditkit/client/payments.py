"""The client's payments (``Client``'s methods: see client.py)."""

from __future__ import annotations

from typing import Any

from creditkit.client.encode import amount_json, row_id, v1_path
from creditkit.client.wire import Wire, decoded
from creditkit.errors import Quantity
from creditkit.payments.sandbox import CARD_SUCCEEDS
from creditkit.payments.schemas import (
    CheckoutSession,
    Payment,
    Receipt,
    ReceiptPage,
    Refund,
    TopUpSettings,
    WebhookOutcome,
)


class ClientPayments:
    """Checkout, refunds, auto top-ups and receipts over HTTP (see docs/payments.md)."""

    _wire: Wire

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
        idempotency_key: str | None = None,
    ) -> CheckoutSession:
        """Starts paying for a ``pack`` or a ``plan``: send the customer to the session's
        ``url``. Retry with the same key to resume."""
        body = {
            "pack": pack,
            "plan": plan,
            "interval": interval,
            "coupon": coupon,
            "success_url": success_url,
            "cancel_url": cancel_url,
        }
        path = v1_path("customers", customer, "checkout")
        return self._wire.write("POST", path, CheckoutSession, body, idempotency_key)

    def complete_sandbox_checkout(
        self, session_id: str, *, card: str = CARD_SUCCEEDS
    ) -> WebhookOutcome:
        """Pays a sandbox checkout with a test ``card`` (``4000000000000002`` is declined);
        ``applied`` is False when it was paid before."""
        path = v1_path("sandbox", "checkouts", session_id, "pay")
        return self._wire.write("POST", path, WebhookOutcome, {"card": card}, None)

    def payment(self, payment_id: int) -> Payment:
        return self._wire.read(v1_path("payments", row_id(payment_id, "payment_id")), Payment)

    def refund(self, payment_id: int, *, idempotency_key: str | None = None) -> Refund:
        """Refunds a pack or top-up within the refund window; once per payment
        (``RefundRefused`` after)."""
        path = v1_path("payments", row_id(payment_id, "payment_id"), "refund")
        return self._wire.write("POST", path, Refund, None, idempotency_key)

    def receipts(self, customer: str, *, limit: int = 50, cursor: str | None = None) -> ReceiptPage:
        """Numbered receipts, newest first; pass ``next_cursor`` for older ones."""
        query: dict[str, Any] = {"limit": limit}
        if cursor is not None:
            query["cursor"] = cursor
        return self._wire.read(v1_path("customers", customer, "receipts"), ReceiptPage, query)

    def receipt(self, receipt_id: int) -> Receipt:
        return self._wire.read(v1_path("receipts", row_id(receipt_id, "receipt_id")), Receipt)

    def save_payment_method(self, customer: str, payment_method: str) -> None:
        """The payment method auto top-ups and renewals charge."""
        path = v1_path("customers", customer, "payment-method")
        self._wire.call("PUT", path, {"payment_method": payment_method})

    def set_auto_top_up(
        self,
        customer: str,
        pack: str,
        *,
        threshold: Quantity | str,
        per_day_max: int = 1,
        target: Quantity | str | None = None,
    ) -> TopUpSettings:
        """Buys ``pack`` when the available balance falls under ``threshold``, at most
        ``per_day_max`` times a UTC day; with ``target``, as many packs as fill the balance to
        at least ``target``."""
        body = {
            "pack": pack,
            "threshold": amount_json(threshold, "threshold"),
            "per_day_max": per_day_max,
            "target": None if target is None else amount_json(target, "target"),
        }
        path = v1_path("customers", customer, "auto-top-up")
        settings: TopUpSettings = decoded(self._wire.call("PUT", path, body), TopUpSettings)
        return settings

    def auto_top_up(self, customer: str) -> TopUpSettings | None:
        path = v1_path("customers", customer, "auto-top-up")
        settings: TopUpSettings | None = decoded(self._wire.call("GET", path), TopUpSettings | None)
        return settings

    def disable_auto_top_up(self, customer: str) -> bool:
        """True when the customer had an auto top-up."""
        return self._wire.removed(v1_path("customers", customer, "auto-top-up"))
