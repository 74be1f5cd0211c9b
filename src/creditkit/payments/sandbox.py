"""The sandbox provider: offline, for demos and tests. Nothing leaves the process.

A checkout "completes" itself: ``SandboxProvider.completion(session_id, card)`` returns the
signed ``checkout.session.completed`` webhook (or, for a declined card, the failed one) that a
real provider would send, and ``PaymentService.complete_sandbox_checkout`` feeds it through the
same webhook path as Stripe's. Cards decide outcomes, as Stripe's test cards do: ``4242…``
succeeds, the cards in ``DECLINED_CARDS`` fail with their reason.

Its webhooks are as hard to forge as Stripe's: the signing secret is random per database (the
payment service binds it with ``for_database``, generated on first use and shared by every
process through ``service_secrets``), session ids carry 128 random bits, and a signature older
(or newer) than ``SIGNATURE_TOLERANCE_SECONDS`` by the kit's clock is refused, as Stripe's SDK
refuses one; a replay inside that window is refused by the processed-events table.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from creditkit.ledger.schemas import Money
from creditkit.payments.errors import PortalUnavailable, WebhookRejected
from creditkit.payments.providers import (
    SIGNATURE_HEADER,
    header,
    signature_header,
    signature_matches,
    signed_at,
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
CHECKOUT_BASE_URL = "sandbox://checkout/"
#: The name the sandbox's webhook secret is stored under in ``service_secrets``.
WEBHOOK_SECRET_NAME = "sandbox_webhook_secret"
#: A webhook signed further than this from the clock's now is refused (Stripe's default).
SIGNATURE_TOLERANCE_SECONDS = 300
#: Random bytes of a session id: 128 bits, so that no id can be guessed from another.
SESSION_ID_BYTES = 16


def new_webhook_secret() -> str:
    return f"whsec_{secrets.token_urlsafe(32)}"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:24]


class SandboxProvider:
    name = "sandbox"
    bills_subscriptions = False

    def __init__(
        self,
        webhook_secret: str | None = None,
        checkout_base_url: str = CHECKOUT_BASE_URL,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        #: None until bound: the payment service binds the database's own secret.
        self.webhook_secret = webhook_secret
        self.checkout_base_url = checkout_base_url
        self._clock = clock or (lambda: datetime.now(UTC))

    def for_database(self, stored_secret: str, clock: Callable[[], datetime]) -> SandboxProvider:
        """This sandbox as one kit uses it: signing with the database's secret (unless one was
        given explicitly) and dating signatures by the kit's clock."""
        return SandboxProvider(self.webhook_secret or stored_secret, self.checkout_base_url, clock)

    def _secret(self) -> str:
        if self.webhook_secret is None:
            raise WebhookRejected(self.name, "the sandbox has no webhook secret bound")
        return self.webhook_secret

    def create_customer(self, customer: str) -> str:
        return f"cus_sandbox_{_digest(customer)}"

    def create_checkout(self, request: CheckoutRequest) -> ProviderCheckout:
        # Random, never derived from the key: a guessable id lets anyone name a pending
        # checkout. A retry after a crash asks again only while no session is recorded.
        session_id = f"cs_sandbox_{secrets.token_hex(SESSION_ID_BYTES)}"
        return ProviderCheckout(session_id, f"{self.checkout_base_url}{session_id}")

    def charge(self, request: OffSessionCharge) -> ChargeResult:
        payment_reference = f"pi_sandbox_{_digest(request.idempotency_key)}"
        reason = DECLINED_CARDS.get(request.payment_method)
        return ChargeResult(reason is None, payment_reference, reason)

    def refund(self, payment_reference: str, amount: Money, idempotency_key: str) -> str:
        return f"re_sandbox_{_digest(idempotency_key)}"

    def portal(self, provider_customer: str, return_url: str) -> str:
        raise PortalUnavailable(self.name)

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
            # One event per session and outcome: paying again is a replay, applied once.
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
        timestamp = int(self._clock().timestamp())
        signature = signature_header(payload, self._secret(), timestamp)
        return payload, {SIGNATURE_HEADER: signature}

    def parse_event(self, payload: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        value = header(headers, SIGNATURE_HEADER)
        if value is None:
            raise WebhookRejected(self.name, f"no {SIGNATURE_HEADER} header")
        if not signature_matches(payload, value, self._secret()):
            raise WebhookRejected(self.name, "the signature does not match the payload")
        age_seconds = abs(int(self._clock().timestamp()) - signed_at(value))
        if age_seconds > SIGNATURE_TOLERANCE_SECONDS:
            raise WebhookRejected(
                self.name,
                f"the signature is {age_seconds} s old (at most {SIGNATURE_TOLERANCE_SECONDS})",
            )
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
