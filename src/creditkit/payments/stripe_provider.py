"""The Stripe provider, over the official SDK (``stripe.StripeClient``).

Checkout Sessions sell packs (``mode=payment``, the card saved for off-session use) and plans
(``mode=subscription``: Stripe then charges the renewals and reports them as invoice events).
A discount is a one-off Stripe coupon of the amount off, so that a subscription's renewals are
charged the plan's price. Webhooks are verified with the endpoint secret
(``StripeClient.construct_event``); a completed checkout's session is then retrieved for the
payment method it saved. ``base_url`` points the client elsewhere (tests run a local fake).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import stripe

from creditkit.derived_keys import (
    provider_customer_key,
    provider_price_key,
    provider_product_key,
    provider_step_key,
)
from creditkit.ledger.schemas import Money
from creditkit.payments.errors import ProviderError, WebhookRejected
from creditkit.payments.providers import SIGNATURE_HEADER, header
from creditkit.payments.schemas import (
    ChargeResult,
    CheckoutRequest,
    OffSessionCharge,
    PlanPrice,
    ProviderCheckout,
    ProviderEvent,
    ProviderEventType,
    ProviderSubscription,
)
from creditkit.payments.stripe_subscriptions import StripeSubscriptions

#: The SDK retries a failed request this many times (with the same idempotency key).
NETWORK_RETRIES_MAX = 2
#: A webhook signed longer ago than this is refused (Stripe's own default): a replayed old
#: webhook could otherwise be sent again at will.
SIGNATURE_TOLERANCE_SECONDS = 300
#: An invoice's lines read for its subscription period: Stripe sends the first page of lines
#: (ten) in the event; a subscription's own line is among them.
INVOICE_LINES_READ_MAX = 100
#: Prices one sync creates or checks: a catalog's plans by two intervals, with room to spare.
PRICES_SYNCED_MAX = 200


class StripeProvider:
    name = "stripe"
    bills_subscriptions = True

    def __init__(
        self,
        api_key: str,
        webhook_secret: str,
        *,
        base_url: str | None = None,
        signature_tolerance_seconds: int = SIGNATURE_TOLERANCE_SECONDS,
    ) -> None:
        self.webhook_secret = webhook_secret
        self.signature_tolerance_seconds = signature_tolerance_seconds
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={} if base_url is None else {"api": base_url},
            max_network_retries=NETWORK_RETRIES_MAX,
        )
        self._subscriptions = StripeSubscriptions(self._client, self._call)

    def create_customer(self, customer: str) -> str:
        created = self._call(
            lambda: self._client.v1.customers.create(
                {"metadata": {"creditkit_customer": customer}},
                {"idempotency_key": provider_customer_key(customer)},
            )
        )
        return str(created.id)

    def create_checkout(self, request: CheckoutRequest) -> ProviderCheckout:
        line_item: dict[str, Any]
        if request.plan_price is not None:
            # The plan's synced Price: the one the billing portal switches between.
            if request.plan_price.amount != request.subtotal:
                raise ProviderError(self.name, "the plan's price is not the checkout's subtotal")
            line_item = {"price": self._price_id(request.plan_price), "quantity": 1}
        else:
            price_data: dict[str, Any] = {
                "currency": request.subtotal.currency.lower(),
                "unit_amount": request.subtotal.amount_minor,
                "product_data": {"name": request.description},
            }
            if request.interval is not None:
                price_data["recurring"] = {"interval": request.interval.value}
            line_item = {"price_data": price_data, "quantity": 1}
        metadata = {"creditkit_payment_id": str(request.payment_id)}
        params: dict[str, Any] = {
            "mode": request.mode,
            "customer": request.provider_customer,
            "client_reference_id": request.customer,
            "line_items": [line_item],
            "success_url": request.success_url,
            "cancel_url": request.cancel_url,
            "metadata": metadata,
        }
        if request.mode == "payment":
            params["payment_intent_data"] = {
                "setup_future_usage": "off_session",
                "metadata": metadata,
            }
        if request.discount.amount_minor:
            coupon = self._call(
                lambda: self._client.v1.coupons.create(
                    {
                        "amount_off": request.discount.amount_minor,
                        "currency": request.discount.currency.lower(),
                        "duration": "once",
                    },
                    {"idempotency_key": provider_step_key(request.idempotency_key, "coupon")},
                )
            )
            params["discounts"] = [{"coupon": coupon.id}]
        session = self._call(
            lambda: self._client.v1.checkout.sessions.create(
                params,  # type: ignore[arg-type]
                {"idempotency_key": request.idempotency_key},
            )
        )
        return ProviderCheckout(str(session.id), str(session.url))

    # -- the catalog's plans as Products and Prices ---------------------------------------------

    def _find_price(self, price: PlanPrice) -> Any | None:
        """The active Price with the plan price's lookup key; one whose terms differ is refused
        (Stripe's Prices never change amount, so it was made by hand)."""
        found = self._call(
            lambda: self._client.v1.prices.list(
                {"lookup_keys": [price.lookup_key], "active": True, "limit": 1}
            )
        )
        if not found.data:
            return None
        existing = found.data[0]
        recurring = existing.recurring
        terms = (
            existing.unit_amount,
            str(existing.currency).upper(),
            None if recurring is None else recurring.interval,
        )
        wanted = (price.amount.amount_minor, price.amount.currency, price.interval.value)
        if terms != wanted:
            raise ProviderError(
                self.name,
                f"the Price with lookup key {price.lookup_key} is {terms[0]} {terms[1]} a"
                f" {terms[2]}, the catalog says {wanted[0]} {wanted[1]} a {wanted[2]}:"
                " archive it in Stripe's dashboard, then run `creditkit stripe sync`",
            )
        return existing

    def _price_id(self, price: PlanPrice) -> str:
        existing = self._find_price(price)
        if existing is None:
            raise ProviderError(
                self.name,
                f"no Price with lookup key {price.lookup_key} (plan {price.plan!r}):"
                " run `creditkit stripe sync`",
            )
        return str(existing.id)

    def missing_prices(self, prices: Sequence[PlanPrice]) -> tuple[str, ...]:
        """The lookup keys of the prices Stripe has no Price for (read only)."""
        return tuple(price.lookup_key for price in prices if self._find_price(price) is None)

    def sync_prices(self, prices: Sequence[PlanPrice]) -> tuple[str, ...]:
        """Creates each plan's Product and each price's Price that Stripe lacks (idempotency keys
        from the lookup keys: a sync run twice, or by two operators at once, creates each once)
        and checks the ones it has; one line per price saying which."""
        lines: list[str] = []
        products: set[str] = set()
        for price in prices[:PRICES_SYNCED_MAX]:
            if price.product_id not in products:
                self._ensure_product(price)
                products.add(price.product_id)
            if self._find_price(price) is not None:
                lines.append(f"{price.lookup_key}: present")
                continue
            self._call(
                lambda price=price: self._client.v1.prices.create(
                    {
                        "product": price.product_id,
                        "unit_amount": price.amount.amount_minor,
                        "currency": price.amount.currency.lower(),
                        "recurring": {"interval": price.interval.value},
                        "lookup_key": price.lookup_key,
                        "nickname": f"{price.name}, {price.interval.value}ly (v{price.version})",
                        "metadata": {
                            "creditkit_plan": price.plan,
                            "creditkit_plan_version": str(price.version),
                        },
                    },
                    {"idempotency_key": provider_price_key(price.lookup_key)},
                )
            )
            lines.append(f"{price.lookup_key}: created")
        return tuple(lines)

    def _ensure_product(self, price: PlanPrice) -> None:
        try:
            self._client.v1.products.retrieve(price.product_id)
            return
        except stripe.InvalidRequestError as error:
            if error.http_status != 404:
                raise ProviderError(self.name, str(error.user_message or error)) from None
        except stripe.StripeError as error:
            raise ProviderError(self.name, str(error.user_message or error)) from None
        self._call(
            lambda: self._client.v1.products.create(
                {
                    "id": price.product_id,
                    "name": price.name,
                    "metadata": {"creditkit_plan": price.plan},
                },
                {"idempotency_key": provider_product_key(price.product_id)},
            )
        )

    # -- subscriptions following creditkit's plan changes (stripe_subscriptions.py) -------------

    def subscription_state(self, subscription_id: str) -> ProviderSubscription:
        return self._subscriptions.state(subscription_id)

    def change_subscription_now(
        self, subscription_id: str, price: PlanPrice, idempotency_key: str
    ) -> ProviderSubscription:
        return self._subscriptions.change_now(
            subscription_id, self._price_id(price), idempotency_key
        )

    def change_subscription_at_period_end(
        self, subscription_id: str, price: PlanPrice, idempotency_key: str
    ) -> None:
        self._subscriptions.change_at_period_end(
            subscription_id, price, self._price_id(price), idempotency_key
        )

    def cancel_subscription_at_period_end(
        self, subscription_id: str, cancel: bool, idempotency_key: str
    ) -> None:
        self._subscriptions.cancel_at_period_end(subscription_id, cancel, idempotency_key)

    def cancel_subscription_now(self, subscription_id: str, idempotency_key: str) -> None:
        self._subscriptions.cancel_now(subscription_id, idempotency_key)

    def charge(self, request: OffSessionCharge) -> ChargeResult:
        try:
            intent = self._client.v1.payment_intents.create(
                {
                    "amount": request.amount.amount_minor,
                    "currency": request.amount.currency.lower(),
                    "customer": request.provider_customer,
                    "payment_method": request.payment_method,
                    "off_session": True,
                    "confirm": True,
                    "description": request.description,
                    "metadata": {"creditkit_payment_id": str(request.payment_id)},
                },
                {"idempotency_key": request.idempotency_key},
            )
        except stripe.CardError as error:
            body: Any = error.json_body or {}
            intent_body = body.get("error", {}).get("payment_intent") or {}
            return ChargeResult(False, intent_body.get("id"), error.code or "card_declined")
        except stripe.StripeError as error:
            raise ProviderError(self.name, str(error.user_message or error)) from None
        if intent.status != "succeeded":
            return ChargeResult(False, str(intent.id), str(intent.status))
        return ChargeResult(True, str(intent.id), None)

    def refund(self, payment_reference: str, amount: Money, idempotency_key: str) -> str:
        refund = self._call(
            lambda: self._client.v1.refunds.create(
                {"payment_intent": payment_reference, "amount": amount.amount_minor},
                {"idempotency_key": idempotency_key},
            )
        )
        return str(refund.id)

    def portal(self, provider_customer: str, return_url: str) -> str:
        """A Stripe billing-portal session: card changes and cancellation, reported back as
        ``customer.subscription.*`` webhooks."""
        session = self._call(
            lambda: self._client.v1.billing_portal.sessions.create(
                {"customer": provider_customer, "return_url": return_url}
            )
        )
        return str(session.url)

    def parse_event(self, payload: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        try:
            self._client.construct_event(
                payload,
                header(headers, SIGNATURE_HEADER),
                self.webhook_secret,
                self.signature_tolerance_seconds,
            )
            # Read from the verified payload itself: plain JSON, whatever the SDK's objects do.
            body = json.loads(payload)
            event_id, event_type, item = body["id"], body["type"], body["data"]["object"]
        except stripe.SignatureVerificationError as error:
            raise WebhookRejected(self.name, str(error)) from None
        except (ValueError, KeyError, TypeError):
            raise WebhookRejected(self.name, "the body is not an event") from None
        kind = next((known for known in ProviderEventType if known.value == event_type), None)
        if kind is None:
            return ProviderEvent(id=event_id, type=event_type, kind=None)
        return self._event(event_id, event_type, kind, item)

    def _event(
        self, event_id: str, event_type: str, kind: ProviderEventType, item: dict[str, Any]
    ) -> ProviderEvent:
        base = ProviderEvent(id=event_id, type=event_type, kind=kind)
        if kind in (
            ProviderEventType.CHECKOUT_COMPLETED,
            ProviderEventType.CHECKOUT_PAYMENT_SUCCEEDED,
            ProviderEventType.CHECKOUT_EXPIRED,
            ProviderEventType.CHECKOUT_PAYMENT_FAILED,
        ):
            return self._checkout_event(base, item)
        if kind in (ProviderEventType.INVOICE_PAID, ProviderEventType.INVOICE_PAYMENT_FAILED):
            period = _subscription_line_period(item)
            return replace(
                base,
                invoice_id=item.get("id"),
                customer_reference=item.get("customer"),
                subscription_reference=_invoice_subscription(item),
                payment_reference=_id_of(item.get("payment_intent")),
                billing_reason=item.get("billing_reason"),
                amount_minor=item.get("amount_paid") or item.get("amount_due"),
                currency=(item.get("currency") or "").upper() or None,
                period_start=None if period is None else period[0],
                period_end=None if period is None else period[1],
            )
        if kind is ProviderEventType.CHARGE_REFUNDED:
            return replace(
                base,
                payment_reference=_id_of(item.get("payment_intent")),
                amount_refunded_minor=item.get("amount_refunded"),
                currency=(item.get("currency") or "").upper() or None,
            )
        # The subscription as Stripe holds it now: an older event read late applies the newer
        # state, never its own stale body.
        state = self._subscriptions.state(str(item["id"]))
        return replace(
            base,
            subscription_reference=state.id,
            customer_reference=item.get("customer"),
            subscription_status=state.status,
            subscription=state,
        )

    def _checkout_event(self, base: ProviderEvent, item: dict[str, Any]) -> ProviderEvent:
        """A checkout's event; for a completed one, the session as retrieved with its
        PaymentIntent, for the payment method saved for off-session charges."""
        payment_method = None
        paid_kinds = (
            ProviderEventType.CHECKOUT_COMPLETED,
            ProviderEventType.CHECKOUT_PAYMENT_SUCCEEDED,
        )
        if base.kind in paid_kinds and item.get("payment_intent"):
            session = self._call(
                lambda: self._client.v1.checkout.sessions.retrieve(
                    item["id"], {"expand": ["payment_intent"]}
                )
            )
            intent = session.payment_intent
            payment_method = _id_of(getattr(intent, "payment_method", None))
        subscription_reference = _id_of(item.get("subscription"))
        state = None
        if base.kind in paid_kinds and subscription_reference is not None:
            # The periods of the plan a checkout bought are the Stripe subscription's.
            state = self._subscriptions.state(subscription_reference)
        return replace(
            base,
            subscription=state,
            session_id=item.get("id"),
            paid=item.get("payment_status") == "paid",
            payment_reference=_id_of(item.get("payment_intent")),
            customer_reference=_id_of(item.get("customer")),
            subscription_reference=_id_of(item.get("subscription")),
            payment_method=payment_method,
        )

    def _call(self, request: Any) -> Any:
        try:
            return request()
        except stripe.StripeError as error:
            raise ProviderError(self.name, str(error.user_message or error)) from None


def _invoice_subscription(invoice: dict[str, Any]) -> str | None:
    """The invoice's subscription: ``subscription`` before API version 2025-03-31, then
    ``parent.subscription_details.subscription``."""
    if invoice.get("subscription") is not None:
        return _id_of(invoice["subscription"])
    details = (invoice.get("parent") or {}).get("subscription_details") or {}
    return _id_of(details.get("subscription"))


def _subscription_line_period(invoice: dict[str, Any]) -> tuple[datetime, datetime] | None:
    """The period the invoice's subscription lines pay for (the latest, when an invoice
    carries several): the lines' ``period``, not the invoice's own ``period_start`` and
    ``period_end``, which for a renewal are the period that just ended. None when the invoice
    has no subscription line."""
    lines = (invoice.get("lines") or {}).get("data") or []
    try:
        periods = [
            (int(line["period"]["start"]), int(line["period"]["end"]))
            for line in lines[:INVOICE_LINES_READ_MAX]
            if line.get("type") == "subscription"
            or (line.get("parent") or {}).get("type") == "subscription_item_details"
        ]
    except (AttributeError, KeyError, TypeError, ValueError):
        raise WebhookRejected("stripe", "an invoice line's period is not two times") from None
    if not periods:
        return None
    start, end = max(periods, key=lambda period: period[1])
    if end <= start:
        raise WebhookRejected("stripe", "an invoice line's period ends before it starts")
    return datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC)


def _id_of(value: Any) -> str | None:
    """An expandable field's id: the id itself, or the id of the expanded object."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dict):
        return str(value["id"])
    return str(value.id)
