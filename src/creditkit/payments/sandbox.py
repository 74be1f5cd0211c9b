"""The sandbox provider: offline, for demos and tests. Nothing leaves the process.

A checkout "completes" itself: ``SandboxProvider.completion(session_id, card)`` returns the
signed ``checkout.session.completed`` webhook (or, for a declined card, the failed one) that a
real provider would send, and ``PaymentService.complete_sandbox_checkout`` feeds it through the
same webhook path as Stripe's. Cards decide outcomes, as Stripe's test cards do: ``4242…``
succeeds, the cards in ``DECLINED_CARDS`` fail with their reason.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

from creditkit.ledger.schemas import Money
from creditkit.payments.errors import WebhookRejected
from creditkit.payments.providers import (
    SIGNATURE_HEADER,
    header,
    signature_header,
    signature_matches,
)
from creditkit.payments.schemas import (
    ChargeResult,
    CheckoutRequest,
    OffSessionCharge,
    ProviderCheckout,
    ProviderEvent,
    ProviderEventType,
)

CARD_SUCCEEDS = "4242424242424242"
CARD_DECLINED = "4000000000000002"
CARD_INSUFFICIENT_FUNDS = "4000000000009995"
DECLINED_CARDS: Mapping[str, str] = {
    CARD_DECLINED: "card_declined",
    CARD_INSUFFICIENT_FUNDS: "insufficient_funds",
}
SANDBOX_WEBHOOK_SECRET = "whsec_sandbox"
CHECKOUT_BASE_URL = "sandbox://checkout/"
#: The sandbox's own webhooks carry a fixed timestamp: it has no clock of its own, and replays
#: are refused by the processed-events table, not by the signature's age.
SANDBOX_SIGNATURE_TIMESTAMP = 0


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:24]


class SandboxProvider:
    name = "sandbox"
    bills_subscriptions = False

    def __init__(
        self,
        webhook_secret: str = SANDBOX_WEBHOOK_SECRET,
        checkout_base_url: str = CHECKOUT_BASE_URL,
    ) -> None:
        self.webhook_secret = webhook_secret
        self.checkout_base_url = checkout_base_url

    def create_customer(self, customer: str) -> str:
        return f"cus_sandbox_{_digest(customer)}"

    def create_checkout(self, request: CheckoutRequest) -> ProviderCheckout:
        # Derived from the key, so a retried call returns the same session, as Stripe's
        # idempotency keys make it.
        session_id = f"cs_sandbox_{_digest(request.idempotency_key)}"
        return ProviderCheckout(session_id, f"{self.checkout_base_url}{session_id}")

    def charge(self, request: OffSessionCharge) -> ChargeResult:
        payment_reference = f"pi_sandbox_{_digest(request.idempotency_key)}"
        reason = DECLINED_CARDS.get(request.payment_method)
        return ChargeResult(reason is None, payment_reference, reason)

    def refund(self, payment_reference: str, amount: Money, idempotency_key: str) -> str:
        return f"re_sandbox_{_digest(idempotency_key)}"

    def completion(self, session_id: str, card: str) -> tuple[bytes, dict[str, str]]:
        """The signed webhook that completes a checkout paid with ``card``: completed and paid,
        or (a declined card) failed."""
        reason = DECLINED_CARDS.get(card)
        kind = (
            ProviderEventType.CHECKOUT_COMPLETED
            if reason is None
            else ProviderEventType.CHECKOUT_PAYMENT_FAILED
        )
        body = {
            "id": f"evt_sandbox_{_digest(f'{session_id}:{kind.value}')}",
            "type": kind.value,
            "data": {
                "object": {
                    "id": session_id,
                    "payment_status": "paid" if reason is None else "unpaid",
                    "payment_intent": f"pi_sandbox_{_digest(session_id)}",
                    "payment_method": card,
                    "failure_reason": reason,
                }
            },
        }
        return self.signed(body)

    def signed(self, body: Mapping[str, object]) -> tuple[bytes, dict[str, str]]:
        payload = json.dumps(body, separators=(",", ":")).encode()
        signature = signature_header(payload, self.webhook_secret, SANDBOX_SIGNATURE_TIMESTAMP)
        return payload, {SIGNATURE_HEADER: signature}

    def parse_event(self, payload: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        value = header(headers, SIGNATURE_HEADER)
        if value is None or not signature_matches(payload, value, self.webhook_secret):
            raise WebhookRejected(self.name, "the signature does not match the payload")
        try:
            body = json.loads(payload)
            event_type = str(body["type"])
            event_id = str(body["id"])
            session = body["data"]["object"]
        except (ValueError, KeyError, TypeError):
            raise WebhookRejected(self.name, "the body is not an event") from None
        kind = next((known for known in ProviderEventType if known.value == event_type), None)
        return ProviderEvent(
            id=event_id,
            type=event_type,
            kind=kind,
            session_id=session.get("id"),
            paid=session.get("payment_status") == "paid",
            payment_reference=session.get("payment_intent"),
            payment_method=session.get("payment_method"),
            failure_reason=session.get("failure_reason"),
        )
