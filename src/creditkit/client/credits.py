"""The client's customers, grants, charges and transfers (``Client``'s methods: see client.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from creditkit.client.encode import amount_json, money_json, time_json, v1_path
from creditkit.client.wire import Wire
from creditkit.errors import Quantity
from creditkit.ledger.schemas import Customer, Grant, Money, Transfer
from creditkit.notify.schemas import ChargeAnswer
from creditkit.pricing.usage import usage_body


class ClientCredits:
    """Customers, grants, charges and transfers over HTTP."""

    _wire: Wire

    def create_customer(
        self,
        customer: str,
        kind: str = "user",
        *,
        subscribe: bool = True,
        metadata: dict[str, Any] | None = None,
        time_zone: str | None = None,
        idempotency_key: str | None = None,
    ) -> Customer:
        """Creates a customer (``"user"`` or ``"workspace"``), or returns the existing one; with
        a catalog it starts on the default plan unless ``subscribe=False``. ``time_zone`` (an
        IANA name) is the zone its calendar-anchored periods follow instead of the plan's."""
        body = {
            "id": customer,
            "kind": kind,
            "subscribe": subscribe,
            "metadata": metadata or {},
            "time_zone": time_zone,
        }
        return self._wire.write("POST", v1_path("customers"), Customer, body, idempotency_key)

    def customer(self, customer: str) -> Customer:
        return self._wire.read(v1_path("customers", customer), Customer)

    def set_time_zone(
        self, customer: str, time_zone: str | None, *, idempotency_key: str | None = None
    ) -> Customer:
        """States the customer's IANA time zone, None clears it (``CreditKit.set_time_zone``)."""
        path = v1_path("customers", customer, "time-zone")
        return self._wire.write("PUT", path, Customer, {"time_zone": time_zone}, idempotency_key)

    def grant(
        self,
        customer: str,
        amount: Quantity | str,
        *,
        idempotency_key: str | None = None,
        unit: str = "credits",
        source: str = "purchase",
        priority: int | None = None,
        effective_at: datetime | None = None,
        expires_at: datetime | None = None,
        transferable: bool | None = None,
        cost_basis: Money | None = None,
        metadata: dict[str, Any] | None = None,
        applies_to: Sequence[str] | None = None,
    ) -> Grant:
        """Gives the customer a block of credits (``CreditKit.grant``); ``cost_basis`` is the
        money paid for them; ``applies_to`` the actions or categories they may pay for."""
        body = {
            "amount": amount_json(amount),
            "unit": unit,
            "source": source,
            "priority": priority,
            "effective_at": time_json(effective_at, "effective_at"),
            "expires_at": time_json(expires_at, "expires_at"),
            "transferable": transferable,
            "cost_basis": None if cost_basis is None else money_json(cost_basis, "cost_basis"),
            "metadata": metadata or {},
            "applies_to": None if applies_to is None else list(applies_to),
        }
        path = v1_path("customers", customer, "grants")
        return self._wire.write("POST", path, Grant, body, idempotency_key)

    def grant_pack(self, customer: str, pack: str, *, idempotency_key: str | None = None) -> Grant:
        """Grants the catalog pack's credits as a purchase (once its payment succeeded)."""
        path = v1_path("customers", customer, "grants")
        return self._wire.write("POST", path, Grant, {"pack": pack}, idempotency_key)

    def charge(
        self,
        customer: str,
        amount: Quantity | str | None = None,
        *,
        idempotency_key: str | None = None,
        unit: str | None = None,
        action: str | None = None,
        quantity: int = 1,
        metadata: dict[str, Any] | None = None,
        member: str | None = None,
        spender: str | None = None,
        allow_debt: bool = False,
        usage: object | None = None,
        occurred_at: datetime | None = None,
    ) -> ChargeAnswer:
        """Spends credits now: an ``amount``, or a catalog ``action`` times ``quantity``, or
        a token-priced ``action``'s price of a model call's ``usage`` (any shape
        ``CreditKit.charge`` takes; sent as its token counts).
        ``occurred_at``: when the usage happened, if earlier (within the service's late-usage
        window): it spends now and counts in the usage of that moment.
        ``InsufficientCredits`` (a ``PaymentRequired``, with ``packs`` and ``upgrade_to``)
        when the balance is short. The answer says what is left (``available_after``) and
        whether the charge crossed an alert threshold (``alert_crossed``)."""
        body = {
            "customer": customer,
            "amount": None if amount is None else amount_json(amount),
            "unit": unit,
            "action": action,
            "quantity": quantity,
            "member": member,
            "metadata": metadata or {},
            "spender": spender,
            "allow_debt": allow_debt,
        }
        if usage is not None:
            body["usage"] = usage_body(usage)
        if occurred_at is not None:
            body["occurred_at"] = time_json(occurred_at, "occurred_at")
        return self._wire.write("POST", v1_path("charges"), ChargeAnswer, body, idempotency_key)

    def transfer(
        self,
        from_customer: str,
        to_customer: str,
        amount: Quantity | str,
        *,
        idempotency_key: str | None = None,
        unit: str = "credits",
        metadata: dict[str, Any] | None = None,
    ) -> Transfer:
        """Gifts transferable credits to another customer."""
        body = {
            "from_customer": from_customer,
            "to_customer": to_customer,
            "amount": amount_json(amount),
            "unit": unit,
            "metadata": metadata or {},
        }
        return self._wire.write("POST", v1_path("transfers"), Transfer, body, idempotency_key)
