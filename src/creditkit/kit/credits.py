"""The kit's customers, grants, charges and transfers (``CreditKit``'s methods: see
kit/__init__.py)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection

from creditkit.derived_keys import bonus_key
from creditkit.errors import CreditKitError, InvalidRequest, Quantity
from creditkit.kit.parts import KitParts
from creditkit.ledger.outcomes import ChargeOutcomes
from creditkit.ledger.schemas import Charge, ChargeRequest, Customer, Grant, Money, Transfer
from creditkit.pricing.charging import quote_for_key, with_price
from creditkit.store.unit_of_work import CustomerRow


class KitCredits(KitParts):
    """Customers, grants, charges and transfers: what moves credits in and out."""

    def create_customer(
        self,
        customer: str,
        kind: str = "user",
        *,
        subscribe: bool = True,
        metadata: dict[str, Any] | None = None,
        time_zone: str | None = None,
    ) -> Customer:
        """Creates a customer (``kind`` ``"user"`` or ``"workspace"``); returns the existing one
        when called again with the same kind. With a catalog, a new customer starts on its
        default plan and gets its allowance; ``subscribe=False`` leaves it without a
        subscription (a user whose plan is its workspace's: it still reads the default plan's
        terms, but is granted nothing). ``time_zone`` (an IANA name) is the zone its
        calendar-anchored periods follow instead of the plan's."""
        created = self._ledger.create_customer(customer, kind, metadata, time_zone)
        if (
            subscribe
            and self._subscriptions is not None
            and self._subscriptions.subscription(customer) is None
        ):
            self._subscriptions.subscribe(customer, self._catalog_required().default_plan.id)
        return created

    def customer(self, customer: str) -> Customer:
        return self._ledger.customer(customer)

    def set_time_zone(
        self, customer: str, time_zone: str | None, *, idempotency_key: str
    ) -> Customer:
        """States the customer's IANA time zone (``None`` clears it: the plan's applies). The
        allowance period in force keeps its end; from it on, calendar-anchored periods follow
        the new zone. Idempotent: the same key again changes nothing (a setting, like a debt
        limit: kept under its key, not a ledger transaction)."""
        return self._ledger.set_time_zone(customer, time_zone, idempotency_key=idempotency_key)

    def grant(
        self,
        customer: str,
        amount: Quantity | str,
        *,
        idempotency_key: str,
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
        """Gives the customer a block of credits. ``priority`` defaults by source (allowances
        burn first, purchases last); ``transferable`` defaults to True for purchases and gifts;
        ``expires_at=None`` never expires; ``effective_at`` (default now) may be in the future.
        ``applies_to`` lists the actions or catalog categories the credits may pay for (None:
        any). A customer in debt is repaid first from the new grant, in its transaction."""
        return self._ledger.grant(
            customer,
            amount,
            unit=unit,
            source=source,
            idempotency_key=idempotency_key,
            priority=priority,
            effective_at=effective_at,
            expires_at=expires_at,
            transferable=transferable,
            cost_basis=cost_basis,
            metadata=metadata,
            applies_to=applies_to,
        )

    def grant_pack(self, customer: str, pack: str, *, idempotency_key: str) -> Grant:
        """Grants the catalog pack's credits as a purchase: its price is the grant's cost basis
        and its ``expires_after_days`` its expiry (none: never). Raises
        ``PurchaseLimitReached`` past the pack's ``purchase_limit``. Call it once the payment
        has succeeded (payment providers call it for you). A pack's ``bonus`` is a second grant,
        of source ``promo``, without cost basis, expiring with the first."""
        offer = self._catalog_required().pack(pack)
        expires_at = None
        if offer.expires_after_days is not None:
            expires_at = self._clock() + timedelta(days=offer.expires_after_days)
        action = f"pack:{offer.id}"

        def within_limit(connection: Connection, holder: CustomerRow) -> CreditKitError | None:
            return self._ledger.purchase_limit_refusal(
                connection, holder, offer.id, offer.purchase_limit
            )

        paid = self._ledger.grant(
            customer,
            offer.amount,
            unit=offer.unit,
            source="purchase",
            idempotency_key=idempotency_key,
            priority=None,
            effective_at=None,
            expires_at=expires_at,
            transferable=None,
            cost_basis=offer.price,
            metadata={"pack": offer.id},
            action=action,
            guard=within_limit,
            applies_to=offer.applies_to,
        )
        if offer.bonus:
            # Its own key, derived from the purchase's: a retry of the same key that replays
            # the purchase grants a bonus the first run did not reach, and never a second one.
            self._ledger.grant(
                customer, offer.bonus, unit=offer.unit, source="promo",
                idempotency_key=bonus_key(idempotency_key), priority=None, effective_at=None,
                expires_at=paid.expires_at, transferable=None, cost_basis=None,
                metadata={"pack": offer.id, "bonus": True, "grant_id": paid.id},
            )  # fmt: skip
        return paid

    def charge(
        self,
        customer: str,
        amount: Quantity | str | None = None,
        *,
        idempotency_key: str,
        unit: str | None = None,
        action: str | None = None,
        quantity: int = 1,
        metadata: dict[str, Any] | None = None,
        member: str | None = None,
        rate_limited: bool = False,
        spender: str | None = None,
        allow_debt: bool = False,
        usage: object | None = None,
        occurred_at: datetime | None = None,
    ) -> Charge:
        """Spends credits now, in burn-down order; raises ``InsufficientCredits`` (and writes
        nothing but the refusal) when the available balance is short. ``spender`` names who
        spent (see ``create_spender``): every budget on its path must leave room, else
        ``BudgetExceeded``. ``allow_debt`` lets what the credits leave short be owed, within
        the debt limit (``set_debt_limit``, or the plan's ``debt_limit``).

        Give the ``amount`` (in ``unit``, default ``credits``), or leave it out and name a
        catalog ``action``: the amount is then its price times ``quantity``, in its unit.
        ``member`` names the workspace member who spent, for per-member spend caps.
        ``rate_limited`` counts the call against the plan's ``rate_limit_per_minute`` in the
        charge's own transaction, and raises ``RateLimited`` past it (as the HTTP API does).

        ``usage``: a model call's usage (``{"model", "provider", "input_tokens",
        "output_tokens", "cache_read_tokens", "cache_write_tokens"}``, or an OpenAI- or
        Anthropic-style usage object as it comes) for an ``action`` the catalog prices by
        tokens: the amount is its price (see ``quote``), recorded in the charge's metadata
        under ``token_price``. ``UnknownModel`` when nothing prices the model.

        ``occurred_at``: when the usage happened, for usage reported late, within the kit's
        ``late_usage_window`` (default one hour): it spends now, and counts in the usage of
        the moment it happened; ``InvalidRequest`` naming ``occurred_at`` outside it."""
        request = self._priced(
            customer, amount, idempotency_key, unit, action, quantity, metadata, member,
            rate_limited, spender, allow_debt, usage,
        )  # fmt: skip
        if occurred_at is not None:
            request = dataclasses.replace(request, occurred_at=occurred_at)
        outcome = self.charge_many([request])[0]
        if isinstance(outcome, CreditKitError):
            raise outcome
        return outcome

    def _priced(
        self,
        customer: str,
        amount: Quantity | str | None,
        idempotency_key: str,
        unit: str | None,
        action: str | None,
        quantity: int,
        metadata: dict[str, Any] | None,
        member: str | None = None,
        rate_limited: bool = False,
        spender: str | None = None,
        allow_debt: bool = False,
        usage: object | None = None,
    ) -> ChargeRequest:
        if usage is not None:
            if amount is not None or quantity != 1:
                field = "amount" if amount is not None else "quantity"
                raise InvalidRequest(field, "a usage prices the charge: leave it out")
            if action is None:
                raise InvalidRequest("action", "name the action that prices the usage")
            quote = quote_for_key(
                self._pricing, self._ledger, self._clock, action, usage, idempotency_key
            )
            if unit is not None and unit != quote.unit:
                raise InvalidRequest("unit", f"action {action!r} is priced in {quote.unit!r}")
            if quote.amount == 0:
                raise InvalidRequest("usage", "costs nothing (no tokens, or a free model)")
            return ChargeRequest(
                customer, quote.amount, idempotency_key, quote.unit, action,
                with_price(metadata, quote), member, rate_limited, spender, allow_debt,
            )  # fmt: skip
        if amount is None:
            if action is None:
                raise InvalidRequest("amount", "give an amount, or an action to price from")
            if self.catalog is None:
                raise InvalidRequest("action", "pricing by action needs a catalog")
            priced = self.catalog.action(action)
            if priced.tokens is not None:
                raise InvalidRequest("usage", f"action {action!r} is priced by tokens: pass usage")
            if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
                raise InvalidRequest("quantity", "must be a positive int")
            if unit is not None and unit != priced.unit:
                raise InvalidRequest("unit", f"action {action!r} is priced in {priced.unit!r}")
            amount, unit = priced.price * quantity, priced.unit
        elif quantity != 1:
            raise InvalidRequest("quantity", "goes with an action priced by the catalog")
        return ChargeRequest(
            customer, amount, idempotency_key, unit or "credits", action, metadata or {}, member,
            rate_limited, spender, allow_debt,
        )  # fmt: skip

    def charge_many(self, requests: Sequence[ChargeRequest]) -> ChargeOutcomes:
        """Up to 10,000 charges in one database transaction, applied in order; each item of the
        result is that charge's ``Charge`` or the error it met (one refusal fails nothing
        else). The result behaves as that list (index, slice, iterate, ``len``, ``==``); each
        ``Charge`` is built when it is read, and ``errors()`` gives the charges that did not go
        through, by position, without building the others."""
        return self._ledger.charge_many(requests)

    def transfer(
        self,
        from_customer: str,
        to_customer: str,
        amount: Quantity | str,
        *,
        idempotency_key: str,
        unit: str = "credits",
        metadata: dict[str, Any] | None = None,
    ) -> Transfer:
        """Moves transferable credits (purchases and gifts by default) as a new ``gift`` grant
        for the recipient, expiring no later than the soonest credit it is made of."""
        return self._ledger.transfer(
            from_customer,
            to_customer,
            amount,
            unit=unit,
            idempotency_key=idempotency_key,
            metadata=metadata,
        )
