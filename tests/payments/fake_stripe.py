"""A local fake of the few Stripe API endpoints the Stripe provider calls: a real HTTP server
on 127.0.0.1 in a thread, speaking Stripe's form-encoded requests and JSON answers, recording
every request so that tests can assert what was sent. Nothing leaves the machine.

An idempotency key sent again gets the first answer, as Stripe's do. Subscriptions and their
schedules are in fake_stripe_billing.py; the fake's time is ``clock`` (a Stripe test clock), the
wall clock unless a test sets it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlparse

from fake_stripe_billing import Billing

#: Payment methods the fake declines off-session, with Stripe's decline codes.
DECLINED_PAYMENT_METHODS = {"pm_card_chargeDeclined": "card_declined"}


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    params: dict[str, str]
    idempotency_key: str | None


@dataclass
class FakeStripe:
    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    products: dict[str, dict[str, Any]] = field(default_factory=dict)
    prices: dict[str, dict[str, Any]] = field(default_factory=dict)
    _answers: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _counter: int = 0
    #: Run once, outside the lock, after the next answer to (method, path) and before it is
    #: sent: what happens at Stripe while a caller is between its read and its next step.
    _after: list[tuple[str, str, Callable[[], None]]] = field(default_factory=list)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    billing: Billing = field(init=False)

    def __post_init__(self) -> None:
        self.billing = Billing(self.prices, self._new_id, lambda: self.clock())

    @property
    def subscriptions(self) -> dict[str, dict[str, Any]]:
        return self.billing.subscriptions

    def subscription(self, subscription_id: str) -> dict[str, Any]:
        """The subscription as Stripe's API shows it now (what its webhooks carry)."""
        with self._lock:
            return self.billing.public(self.billing.subscriptions[subscription_id])

    def advance(self, subscription_id: str, to: datetime) -> list[dict[str, Any]]:
        """The test clock moved to ``to``: the renewal invoices the subscription's period ends
        made (see ``Billing.advance``)."""
        with self._lock:
            return self.billing.advance(subscription_id, to)

    def calls(self, method: str, path: str) -> list[Recorded]:
        return [call for call in self.requests if (call.method, call.path) == (method, path)]

    def pay(self, session_id: str, payment_method: str = "pm_card_visa") -> dict[str, Any]:
        """What Stripe does when the customer pays: the session is complete, with a
        PaymentIntent (payment mode) or a subscription (subscription mode)."""
        with self._lock:
            session = self.sessions[session_id]
            session["status"] = "complete"
            session["payment_status"] = "paid"
            if session["mode"] == "payment":
                intent = {"id": self._new_id("pi"), "payment_method": payment_method}
                session["payment_intent"] = intent["id"]
                session["_intent"] = intent
            else:
                session["subscription"] = self.billing.create(
                    session["customer"],
                    session["_price"],
                    int(session["_amount"]),
                    session["_currency"],
                )
            return dict(session)

    def invoice(
        self, subscription_id: str, start: datetime, end: datetime, *, paid: bool = True
    ) -> dict[str, Any]:
        """A renewal invoice of the subscription, as Stripe bills it at a period's start: paid,
        or open after a declined attempt; the new period on its subscription line."""
        with self._lock:
            subscription = self.billing.subscriptions[subscription_id]
            amount = subscription["amount"]
            period = {"start": int(start.timestamp()), "end": int(end.timestamp())}
            return {
                "id": self._new_id("in"),
                "object": "invoice",
                "customer": subscription["customer"],
                "subscription": subscription_id,
                "billing_reason": "subscription_cycle",
                "status": "paid" if paid else "open",
                "payment_intent": self._new_id("pi"),
                "amount_due": amount,
                "amount_paid": amount if paid else 0,
                "currency": subscription["currency"],
                "lines": {
                    "object": "list",
                    "data": [
                        {
                            "object": "line_item",
                            "type": "subscription",
                            "amount": amount,
                            "period": period,
                        }
                    ],
                },
            }

    def _new_id(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}_fake_{self._counter}"

    def after_next(self, method: str, path: str, hook: Callable[[], None]) -> None:
        with self._lock:
            self._after.append((method, path, hook))

    def run_after(self, method: str, path: str) -> None:
        with self._lock:
            due = [entry for entry in self._after if entry[:2] == (method, path)]
            self._after = [entry for entry in self._after if entry[:2] != (method, path)]
        for _method, _path, hook in due:
            hook()

    def answer(
        self, method: str, path: str, params: dict[str, str], key: str | None
    ) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests.append(Recorded(method, path, params, key))
            if key is not None and key in self._answers:
                return self._answers[key]
            status, body = self._route(method, path, params)
            if key is not None:
                self._answers[key] = (status, body)
            return status, body

    def _route(self, method: str, path: str, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if (method, path) == ("POST", "/v1/customers"):
            return 200, {"id": self._new_id("cus"), "object": "customer"}
        if (method, path) == ("POST", "/v1/coupons"):
            return 200, {"id": self._new_id("co"), "object": "coupon", **params}
        if path.startswith(("/v1/products", "/v1/prices")):
            return self._catalog_route(method, path, params)
        if path.startswith(("/v1/subscriptions/", "/v1/subscription_schedules")):
            answer = self.billing.route(method, path, params)
            if answer is not None:
                return answer
        if (method, path) == ("POST", "/v1/checkout/sessions"):
            session_id = self._new_id("cs")
            price = self.prices.get(params.get("line_items[0][price]", ""))
            session = {
                "id": session_id,
                "object": "checkout.session",
                "mode": params["mode"],
                "customer": params.get("customer"),
                "url": f"https://checkout.stripe.test/{session_id}",
                "status": "open",
                "payment_status": "unpaid",
                "payment_intent": None,
                "subscription": None,
                "metadata": {"creditkit_payment_id": params.get("metadata[creditkit_payment_id]")},
                "_amount": price["unit_amount"]
                if price
                else params.get("line_items[0][price_data][unit_amount]"),
                "_currency": price["currency"]
                if price
                else params.get("line_items[0][price_data][currency]"),
                "_price": None if price is None else price["id"],
            }
            self.sessions[session_id] = session
            return 200, _public(session)
        if method == "GET" and path.startswith("/v1/checkout/sessions/"):
            session = self.sessions.get(path.rsplit("/", 1)[1])
            if session is None:
                return 404, _error("invalid_request_error", "resource_missing", "No such session")
            body = _public(session)
            if params.get("expand[0]") == "payment_intent" and "_intent" in session:
                body["payment_intent"] = {"object": "payment_intent", **session["_intent"]}
            return 200, body
        if (method, path) == ("POST", "/v1/payment_intents"):
            intent_id = self._new_id("pi")
            code = DECLINED_PAYMENT_METHODS.get(params.get("payment_method", ""))
            if code is not None:
                error = _error("card_error", code, "Your card was declined.")
                error["error"]["payment_intent"] = {
                    "id": intent_id,
                    "status": "requires_payment_method",
                }
                return 402, error
            return 200, {"id": intent_id, "object": "payment_intent", "status": "succeeded"}
        if (method, path) == ("POST", "/v1/billing_portal/sessions"):
            session_id = self._new_id("bps")
            return 200, {
                "id": session_id,
                "object": "billing_portal.session",
                "customer": params["customer"],
                "return_url": params["return_url"],
                "url": f"https://billing.stripe.test/p/session/{session_id}",
            }
        if (method, path) == ("POST", "/v1/refunds"):
            return 200, {
                "id": self._new_id("re"),
                "object": "refund",
                "amount": int(params["amount"]),
                "payment_intent": params["payment_intent"],
                "status": "succeeded",
            }
        return 404, _error("invalid_request_error", "resource_missing", f"no {method} {path}")

    def _catalog_route(
        self, method: str, path: str, params: dict[str, str]
    ) -> tuple[int, dict[str, Any]]:
        """Products (made with the caller's id) and Prices (found by lookup key)."""
        if (method, path) == ("POST", "/v1/products"):
            product_id = params.get("id") or self._new_id("prod")
            if product_id in self.products:
                return 400, _error("invalid_request_error", "resource_already_exists", product_id)
            product = {"id": product_id, "object": "product", "name": params["name"]}
            self.products[product_id] = product
            return 200, product
        if method == "GET" and path.startswith("/v1/prices/"):
            found = self.prices.get(path.rsplit("/", 1)[1])
            if found is None:
                return 404, _error("invalid_request_error", "resource_missing", "No such price")
            return 200, found
        if method == "GET" and path.startswith("/v1/products/"):
            found = self.products.get(path.rsplit("/", 1)[1])
            if found is None:
                return 404, _error("invalid_request_error", "resource_missing", "No such product")
            return 200, found
        if (method, path) == ("POST", "/v1/prices"):
            if params["product"] not in self.products:
                return 400, _error("invalid_request_error", "resource_missing", "No such product")
            taken = [
                price
                for price in self.prices.values()
                if price["lookup_key"] == params["lookup_key"]
            ]
            if taken:  # Stripe refuses a taken lookup key unless transfer_lookup_key is set
                return 400, _error("invalid_request_error", "lookup_key_exists", "taken")
            price = {
                "id": self._new_id("price"),
                "object": "price",
                "active": True,
                "product": params["product"],
                "unit_amount": int(params["unit_amount"]),
                "currency": params["currency"],
                "recurring": {"interval": params["recurring[interval]"]},
                "lookup_key": params["lookup_key"],
                "metadata": {
                    name[len("metadata[") : -1]: value
                    for name, value in params.items()
                    if name.startswith("metadata[")
                },
            }
            self.prices[price["id"]] = price
            return 200, price
        if (method, path) == ("GET", "/v1/prices"):
            keys = {value for name, value in params.items() if name.startswith("lookup_keys[")}
            data = [
                price
                for price in self.prices.values()
                if price["lookup_key"] in keys and price["active"]
            ]
            return 200, {"object": "list", "data": data, "has_more": False, "url": "/v1/prices"}
        return 404, _error("invalid_request_error", "resource_missing", f"no {method} {path}")


def _public(session: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in session.items() if not name.startswith("_")}


def _error(kind: str, code: str, message: str) -> dict[str, Any]:
    return {"error": {"type": kind, "code": code, "message": message}}


def _handler(fake: FakeStripe) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self, method: str) -> None:
            parsed = urlparse(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            params = dict(parse_qsl(parsed.query)) | dict(parse_qsl(body))
            status, answer = fake.answer(
                method, parsed.path, params, self.headers.get("Idempotency-Key")
            )
            fake.run_after(method, parsed.path)
            encoded = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(encoded)))
            self.send_header("Request-Id", "req_fake")
            self.end_headers()
            self.wfile.write(encoded)

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def do_DELETE(self) -> None:
            self._serve("DELETE")

        def log_message(self, *_args: object) -> None:
            return  # quiet: pytest shows the requests through ``fake.requests``

    return Handler


@contextmanager
def running() -> Iterator[FakeStripe]:
    fake = FakeStripe()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
