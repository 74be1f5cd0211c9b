"""The client's holds, meters, leases and quotes (``Client``'s methods: see client.py)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from creditkit.catalog import Action
from creditkit.client.encode import amount_json, row_id, v1_path
from creditkit.client.errors import ApiError
from creditkit.client.wire import Wire, decoded
from creditkit.clock import Clock
from creditkit.errors import Quantity
from creditkit.ledger.schemas import Hold
from creditkit.metering.lease import Lease
from creditkit.metering.metered import HOLD_TIMEOUT_SECONDS_DEFAULT, Meter, open_meter
from creditkit.metering.metered_tokens import TokenMeter
from creditkit.notify.schemas import ChargeAnswer
from creditkit.pricing.schemas import Quote
from creditkit.pricing.usage import usage_body

#: How long the catalog's action costs read for ``metered`` are used before being read again:
#: metering a request should not cost a second request, and a catalog changes only when the
#: service restarts with a new one.
ACTION_COSTS_TTL_SECONDS = 60
ACTION_COSTS_TTL = timedelta(seconds=ACTION_COSTS_TTL_SECONDS)


@dataclass(frozen=True, slots=True)
class _ActionCosts:
    """The catalog's priced actions by id, as read at ``read_at``."""

    read_at: datetime
    actions: Mapping[str, Action]


class ActionCostCache:
    """The catalog's action costs over ``wire``, dated by ``clock``, for ``metered``."""

    def __init__(self, wire: Wire, clock: Clock) -> None:
        self._wire = wire
        self._clock = clock
        self._action_costs: _ActionCosts | None = None

    def action(self, action: str) -> Action | None:
        """The catalog's action (for ``metered``'s default estimate and unit), None when the
        catalog does not price it. The catalog's prices are read at most once per
        ``ACTION_COSTS_TTL``, not on every metered call."""
        now = self._clock()
        cached = self._action_costs
        # A clock that went back (a wall clock set back) makes the cache's age unknown: read.
        if cached is None or not timedelta(0) <= now - cached.read_at < ACTION_COSTS_TTL:
            # Threads racing here each read and store a whole, immutable cache: the last wins.
            cached = self._action_costs = _ActionCosts(now, self._read_action_costs())
        return cached.actions.get(action)

    def _read_action_costs(self) -> Mapping[str, Action]:
        try:
            costs = self._wire.call("GET", v1_path("catalog", "action-costs"))
        except ApiError as error:
            if error.problem == "no_catalog":
                return {}
            raise
        if not isinstance(costs, list) or not all(isinstance(cost, dict) for cost in costs):
            raise ApiError(200, "response_invalid", "action costs: expected a list of objects", {})
        return {
            cost.get("action"): decoded(
                {**cost, "id": cost.get("action"), "price": cost.get("cost")}, Action
            )
            for cost in costs
        }


class ClientHolds:
    """Holds and the meters and leases built on them, and quotes, over HTTP."""

    _wire: Wire
    _action_costs: ActionCostCache

    def quote(self, action: str, usage: object, *, at: datetime | None = None) -> Quote:
        """What ``usage`` would cost under the token-priced ``action`` (``CreditKit.quote``):
        the credits and the price record. Writes nothing."""
        body = {
            "action": action,
            "usage": usage_body(usage),
            "at": None if at is None else at.isoformat(),
        }
        answer: Quote = decoded(self._wire.call("POST", v1_path("quotes"), body), Quote)
        return answer

    def reserve(
        self,
        customer: str,
        amount: Quantity | str,
        *,
        idempotency_key: str | None = None,
        unit: str = "credits",
        timeout_seconds: int = HOLD_TIMEOUT_SECONDS_DEFAULT,
        action: str | None = None,
        metadata: dict[str, Any] | None = None,
        spender: str | None = None,
        parent: int | None = None,
    ) -> Hold:
        """Sets credits aside for work whose cost is not known yet; ``spender``: who holds;
        ``parent``: a hold to draw from instead of the grants."""
        body: dict[str, Any] = {
            "customer": customer,
            "amount": amount_json(amount),
            "unit": unit,
            "timeout_seconds": timeout_seconds,
            "action": action,
            "metadata": metadata or {},
            "spender": spender,
        }
        if parent is not None:
            body["parent"] = row_id(parent, "parent")
        return self._wire.write("POST", v1_path("holds"), Hold, body, idempotency_key)

    def extend(
        self,
        hold_id: int,
        amount: Quantity | str | None = None,
        timeout_seconds: int | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> Hold:
        """Raises the hold by ``amount`` and/or pushes its timeout to ``timeout_seconds`` from
        now."""
        body = {
            "amount": None if amount is None else amount_json(amount),
            "timeout_seconds": timeout_seconds,
        }
        path = v1_path("holds", row_id(hold_id, "hold_id"), "extend")
        return self._wire.write("POST", path, Hold, body, idempotency_key)

    def commit(
        self,
        hold_id: int,
        amount: Quantity | str | None = None,
        *,
        idempotency_key: str | None = None,
        final: bool = True,
        metadata: dict[str, Any] | None = None,
        allow_debt: bool = False,
        usage: object | None = None,
    ) -> ChargeAnswer:
        """Spends ``amount`` of the hold; ``final``: the rest goes back and the hold closes,
        else it stays open for more commits. Above what the hold has left only with
        ``allow_debt`` (``CreditKit.commit``). ``usage`` instead of ``amount``: what it costs
        under the hold's token-priced action."""
        body: dict[str, Any] = {
            "amount": None if amount is None else amount_json(amount),
            "metadata": metadata or {},
            "final": final,
            "allow_debt": allow_debt,
        }
        if usage is not None:
            body["usage"] = usage_body(usage)
        path = v1_path("holds", row_id(hold_id, "hold_id"), "commit")
        return self._wire.write("POST", path, ChargeAnswer, body, idempotency_key)

    def lease(
        self,
        customer: str,
        amount: Quantity | str,
        *,
        idempotency_key: str | None = None,
        unit: str = "credits",
        timeout_seconds: int = HOLD_TIMEOUT_SECONDS_DEFAULT,
        batch: Quantity | str | None = None,
        extend_by: Quantity | str | None = None,
        action: str | None = None,
        parent: int | None = None,
        spender: str | None = None,
    ) -> Lease:
        """A hold a worker spends against locally (see ``creditkit.Lease``); given no key, one
        made for this call roots the keys of its reports."""
        return Lease.open(
            self,
            customer,
            amount,
            idempotency_key=idempotency_key or str(uuid.uuid4()),
            unit=unit,
            timeout_seconds=timeout_seconds,
            batch=batch,
            extend_by=extend_by,
            action=action,
            parent=parent,
            spender=spender,
        )

    def release(self, hold_id: int, *, idempotency_key: str | None = None) -> Hold:
        """Gives everything the hold set aside back."""
        path = v1_path("holds", row_id(hold_id, "hold_id"), "release")
        return self._wire.write("POST", path, Hold, None, idempotency_key)

    def metered(
        self,
        customer: str,
        action: str,
        estimate: Quantity | str | None = None,
        *,
        idempotency_key: str | None = None,
        unit: str | None = None,
        timeout_seconds: int = HOLD_TIMEOUT_SECONDS_DEFAULT,
        metadata: dict[str, Any] | None = None,
        spender: str | None = None,
    ) -> Meter:
        """A hold around work of unknown cost: ``with client.metered(...) as meter:``. See
        ``CreditKit.metered`` and docs/integrations.md."""
        return open_meter(
            self,
            self._action_costs.action,
            customer,
            action,
            estimate,
            idempotency_key=idempotency_key,
            unit=unit,
            timeout_seconds=timeout_seconds,
            metadata=metadata,
            spender=spender,
        )

    def metered_tokens(
        self,
        customer: str,
        action: str,
        usage: object,
        *,
        idempotency_key: str | None = None,
        extend_tokens: int | None = None,
        allow_debt: bool = False,
        timeout_seconds: int = HOLD_TIMEOUT_SECONDS_DEFAULT,
        metadata: dict[str, Any] | None = None,
        spender: str | None = None,
    ) -> TokenMeter:
        """A hold around a model call priced by tokens, grown while it streams: ``with
        client.metered_tokens(...) as meter:``. See ``CreditKit.metered_tokens`` and
        docs/streams.md."""
        return TokenMeter(
            self,
            customer,
            action,
            usage,
            idempotency_key=idempotency_key,
            extend_tokens=extend_tokens,
            allow_debt=allow_debt,
            timeout_seconds=timeout_seconds,
            metadata=metadata,
            spender=spender,
        )

    def hold(self, hold_id: int) -> Hold:
        return self._wire.read(v1_path("holds", row_id(hold_id, "hold_id")), Hold)
