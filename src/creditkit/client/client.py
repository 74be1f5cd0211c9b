"""``Client``: the engine behind ``creditkit serve``, called over HTTP with the same methods,
arguments, return types and errors as the embedded ``CreditKit``."""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from creditkit.catalog import Action, CountOrUnlimited
from creditkit.client.decode import Mismatch, decode
from creditkit.client.errors import ApiError, ServiceUnreachable
from creditkit.client.problems import error_from_problem
from creditkit.client.retry import (
    RETRIED_STATUSES,
    RETRIED_TRANSPORT_ERRORS,
    RETRIES_MAX_DEFAULT,
    RETRIES_MAX_LIMIT,
    RETRY_AFTER_SECONDS_MAX,
    RETRY_WAIT_SECONDS_MAX_DEFAULT,
    RETRY_WAIT_SECONDS_MAX_LIMIT,
    RetryBudget,
    backoff_seconds,
    retry_after_seconds,
)
from creditkit.clock import Clock, system_clock
from creditkit.entitlements.schemas import Decision, LimitUsage, Member
from creditkit.errors import CreditKitError, InvalidAmount, InvalidRequest, Quantity
from creditkit.events.schemas import IngestLag, ParkedEventsPage
from creditkit.keys.schemas import SessionCode, SessionInfo, SessionPermission, SessionToken
from creditkit.ledger.schemas import (
    Adjustment,
    AuditReport,
    Balance,
    Budget,
    Charge,
    Customer,
    DebtLimit,
    Grant,
    HistoryPage,
    Hold,
    Money,
    Reversal,
    Spender,
    Transfer,
)
from creditkit.metering.lease import Lease
from creditkit.metering.metered import HOLD_TIMEOUT_SECONDS_DEFAULT, Meter, open_meter
from creditkit.metering.metered_tokens import TokenMeter
from creditkit.notify.schemas import (
    Alerts,
    ChargeAnswer,
    Delivery,
    Event,
    EventType,
    RegisteredWebhookEndpoint,
    WebhookEndpoint,
)
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
from creditkit.pricing.schemas import Quote
from creditkit.pricing.usage import usage_body
from creditkit.subscriptions.schemas import BillingLine, Subscription
from creditkit.usage.checks import (
    BREAKDOWN_GROUPS_DEFAULT,
    INGEST_REQUEST_EVENTS_MAX,
    check_dimension,
)
from creditkit.usage.schemas import (
    BreakdownBy,
    EventAccepted,
    ModelUsage,
    UsageBreakdown,
    UsageSeries,
    UsageSummary,
)

#: Seconds one attempt may take (connect, send, wait, read), by default and at most.
TIMEOUT_SECONDS_DEFAULT = 10.0
TIMEOUT_SECONDS_MAX = 300.0
#: The session token lifetime the API gives when the caller names none.
SESSION_TTL_SECONDS_DEFAULT = 900
SESSION_CODE_TTL_SECONDS_DEFAULT = 300
#: How long the catalog's action costs read for ``metered`` are used before being read again:
#: metering a request should not cost a second request, and a catalog changes only when the
#: service restarts with a new one.
ACTION_COSTS_TTL_SECONDS = 60
ACTION_COSTS_TTL = timedelta(seconds=ACTION_COSTS_TTL_SECONDS)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _ActionCosts:
    """The catalog's priced actions by id, as read at ``read_at``."""

    read_at: datetime
    actions: Mapping[str, Action]


class Client:
    """The HTTP API at ``base_url`` (``http://127.0.0.1:8000``), called with ``api_key`` (a
    secret key ``ck_secret_…``, or a customer session token for that customer's reads).

    Each method is ``CreditKit``'s: the same arguments (every write's ``idempotency_key`` is
    optional here: the client makes one per call), the same frozen dataclasses with exact
    amounts, the same ``CreditKitError`` subclasses. A failed connection, a 429 and a 503 are
    tried again, at most ``retries_max`` times and waiting at most ``retry_wait_seconds_max`` in
    all, with the same Idempotency-Key: a write is applied once however often it is sent.
    ``sleep`` waits between attempts (tests pass their own); ``transport`` is httpx's (tests,
    proxies); ``clock`` dates the catalog's action costs the client keeps (tests pass a
    ``ManualClock``).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout_seconds: float = TIMEOUT_SECONDS_DEFAULT,
        retries_max: int = RETRIES_MAX_DEFAULT,
        retry_wait_seconds_max: float = RETRY_WAIT_SECONDS_MAX_DEFAULT,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Clock = system_clock,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise InvalidRequest("base_url", "must start with http:// or https://")
        if not api_key:
            raise InvalidRequest("api_key", "must not be empty")
        if not 0 < timeout_seconds <= TIMEOUT_SECONDS_MAX:
            raise InvalidRequest("timeout_seconds", f"must be 0 < t <= {TIMEOUT_SECONDS_MAX}")
        if isinstance(retries_max, bool) or not 0 <= retries_max <= RETRIES_MAX_LIMIT:
            raise InvalidRequest("retries_max", f"must be 0 to {RETRIES_MAX_LIMIT}")
        if isinstance(retry_wait_seconds_max, bool) or not (
            0 <= retry_wait_seconds_max <= RETRY_WAIT_SECONDS_MAX_LIMIT
        ):
            raise InvalidRequest(
                "retry_wait_seconds_max", f"must be 0 to {RETRY_WAIT_SECONDS_MAX_LIMIT:g}"
            )
        self.base_url = base_url.rstrip("/")
        self._retries_max = retries_max
        self._retry_wait_seconds_max = retry_wait_seconds_max
        self._sleep = sleep
        self._clock = clock
        self._chance = random.Random()
        self._action_costs: _ActionCosts | None = None
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json"},
            timeout=timeout_seconds,
            transport=transport,
        )

    def close(self) -> None:
        """Closes the connections."""
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- customers --

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
        return self._write("POST", _path("customers"), Customer, body, idempotency_key)

    def customer(self, customer: str) -> Customer:
        return self._read(_path("customers", customer), Customer)

    def set_time_zone(
        self, customer: str, time_zone: str | None, *, idempotency_key: str | None = None
    ) -> Customer:
        """States the customer's IANA time zone, None clears it (``CreditKit.set_time_zone``)."""
        path = _path("customers", customer, "time-zone")
        return self._write("PUT", path, Customer, {"time_zone": time_zone}, idempotency_key)

    # -- writes --

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
            "amount": _amount(amount),
            "unit": unit,
            "source": source,
            "priority": priority,
            "effective_at": _time(effective_at, "effective_at"),
            "expires_at": _time(expires_at, "expires_at"),
            "transferable": transferable,
            "cost_basis": None if cost_basis is None else _money(cost_basis, "cost_basis"),
            "metadata": metadata or {},
            "applies_to": None if applies_to is None else list(applies_to),
        }
        path = _path("customers", customer, "grants")
        return self._write("POST", path, Grant, body, idempotency_key)

    def grant_pack(self, customer: str, pack: str, *, idempotency_key: str | None = None) -> Grant:
        """Grants the catalog pack's credits as a purchase (once its payment succeeded)."""
        path = _path("customers", customer, "grants")
        return self._write("POST", path, Grant, {"pack": pack}, idempotency_key)

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
            "amount": None if amount is None else _amount(amount),
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
            body["occurred_at"] = _time(occurred_at, "occurred_at")
        return self._write("POST", _path("charges"), ChargeAnswer, body, idempotency_key)

    def quote(self, action: str, usage: object, *, at: datetime | None = None) -> Quote:
        """What ``usage`` would cost under the token-priced ``action`` (``CreditKit.quote``):
        the credits and the price record. Writes nothing."""
        body = {
            "action": action,
            "usage": usage_body(usage),
            "at": None if at is None else at.isoformat(),
        }
        answer: Quote = self._decoded(self._call("POST", _path("quotes"), body), Quote)
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
            "amount": _amount(amount),
            "unit": unit,
            "timeout_seconds": timeout_seconds,
            "action": action,
            "metadata": metadata or {},
            "spender": spender,
        }
        if parent is not None:
            body["parent"] = _row_id(parent, "parent")
        return self._write("POST", _path("holds"), Hold, body, idempotency_key)

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
            "amount": None if amount is None else _amount(amount),
            "timeout_seconds": timeout_seconds,
        }
        path = _path("holds", _row_id(hold_id, "hold_id"), "extend")
        return self._write("POST", path, Hold, body, idempotency_key)

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
            "amount": None if amount is None else _amount(amount),
            "metadata": metadata or {},
            "final": final,
            "allow_debt": allow_debt,
        }
        if usage is not None:
            body["usage"] = usage_body(usage)
        path = _path("holds", _row_id(hold_id, "hold_id"), "commit")
        return self._write("POST", path, ChargeAnswer, body, idempotency_key)

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
        path = _path("holds", _row_id(hold_id, "hold_id"), "release")
        return self._write("POST", path, Hold, None, idempotency_key)

    def void_grant(
        self,
        grant_id: int,
        amount: Quantity | str | None = None,
        *,
        reason: str,
        idempotency_key: str | None = None,
    ) -> Adjustment:
        """Takes ``amount`` of one grant (None: all that is left of it) back, with a reason."""
        body = {"amount": None if amount is None else _amount(amount), "reason": reason}
        path = _path("grants", _row_id(grant_id, "grant_id"), "void")
        return self._write("POST", path, Adjustment, body, idempotency_key)

    def reverse_charge(
        self,
        charge_key: str,
        amount: Quantity | str | None = None,
        *,
        reason: str,
        idempotency_key: str | None = None,
    ) -> Reversal:
        """Gives back ``amount`` (None: all not reversed yet) of the charge recorded under
        ``charge_key``, with a reason kept in the history."""
        body = {
            "charge_key": charge_key,
            "amount": None if amount is None else _amount(amount),
            "reason": reason,
        }
        return self._write("POST", _path("reversals"), Reversal, body, idempotency_key)

    def change_grant_expiry(
        self,
        grant_id: int,
        expires_at: datetime | None,
        *,
        reason: str,
        idempotency_key: str | None = None,
    ) -> Grant:
        """Moves what is left of the grant into a new grant expiring at ``expires_at`` (None:
        never); returns the new grant."""
        body = {"expires_at": _time(expires_at, "expires_at"), "reason": reason}
        path = _path("grants", _row_id(grant_id, "grant_id"), "expiry")
        return self._write("POST", path, Grant, body, idempotency_key)

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
            "amount": _amount(amount),
            "unit": unit,
            "metadata": metadata or {},
        }
        return self._write("POST", _path("transfers"), Transfer, body, idempotency_key)

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
            self._action,
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

    # -- subscriptions --

    def subscribe(
        self,
        customer: str,
        plan: str,
        *,
        interval: str = "month",
        trial_days: int = 0,
        pay_with: str = "money",
        collected_elsewhere: bool = False,
        idempotency_key: str | None = None,
    ) -> Subscription:
        """Puts the customer on ``plan`` (a change of plan when already subscribed). A plan
        priced in money raises ``CheckoutRequired`` (start it with ``checkout``) unless
        ``collected_elsewhere``: the app's own billing collects it."""
        body = {
            "plan": plan,
            "interval": interval,
            "trial_days": trial_days,
            "pay_with": pay_with,
            "collected_elsewhere": collected_elsewhere,
        }
        path = _path("customers", customer, "subscription")
        return self._write("POST", path, Subscription, body, idempotency_key)

    def change_plan(
        self,
        customer: str,
        plan: str,
        *,
        interval: str | None = None,
        allowance_on_upgrade: str = "difference",
        idempotency_key: str | None = None,
    ) -> Subscription:
        """Upgrades now (prorated), downgrades at the end of the billing period."""
        body = {"plan": plan, "interval": interval, "allowance_on_upgrade": allowance_on_upgrade}
        path = _path("customers", customer, "subscription", "change")
        return self._write("POST", path, Subscription, body, idempotency_key)

    def cancel(
        self, customer: str, *, at_period_end: bool = True, idempotency_key: str | None = None
    ) -> Subscription:
        """Back to the default plan at the end of the billing period, or now."""
        path = _path("customers", customer, "subscription", "cancel")
        body = {"at_period_end": at_period_end}
        return self._write("POST", path, Subscription, body, idempotency_key)

    def reset_period(
        self, customer: str, *, reason: str, idempotency_key: str | None = None
    ) -> Subscription:
        """Ends the customer's allowance period now and starts a new one, with ``reason`` kept
        in the history; the billing period is unchanged."""
        path = _path("customers", customer, "period-reset")
        return self._write("POST", path, Subscription, {"reason": reason}, idempotency_key)

    def subscription(self, customer: str) -> Subscription | None:
        try:
            return self._read(_path("customers", customer, "subscription"), Subscription)
        except ApiError as error:
            if error.problem == "no_subscription":
                return None
            raise

    def billing_lines(self, customer: str, *, limit: int = 50) -> tuple[BillingLine, ...]:
        """What the customer owes, newest first."""
        path = _path("customers", customer, "billing-lines")
        return tuple(self._read_list(path, BillingLine, {"limit": limit}))

    # -- entitlements --

    def entitled(self, customer: str, feature: str) -> Decision:
        return self._read(_path("customers", customer, "entitlements", feature), Decision)

    def acquire(
        self, customer: str, limit: str, resource_id: str, *, idempotency_key: str | None = None
    ) -> Decision:
        """Counts a live thing against a ``count`` limit; a refusal is a ``Decision`` with
        ``allowed`` False, as on ``CreditKit``."""
        path = _path("customers", customer, "limits", limit, "resources")
        body = {"resource_id": resource_id}
        return self._decided("POST", path, body, idempotency_key)

    def release_resource(self, customer: str, limit: str, resource_id: str) -> bool:
        """Stops counting the thing; True when it was counted."""
        path = _path("customers", customer, "limits", limit, "resources", resource_id)
        return self._removed(path)

    def track(
        self, customer: str, limit: str, quantity: int = 1, *, idempotency_key: str | None = None
    ) -> Decision:
        """Counts ``quantity`` against a ``per_period`` limit, once per key."""
        path = _path("customers", customer, "limits", limit, "usage")
        return self._decided("POST", path, {"quantity": quantity}, idempotency_key)

    def usage_of_limits(self, customer: str) -> list[LimitUsage]:
        return self._read_list(_path("customers", customer, "limits"), LimitUsage)

    def quota(self, customer: str, name: str) -> CountOrUnlimited:
        """A number of the plan in force, or ``UNLIMITED``."""
        path = _path("customers", customer, "quotas", name)
        answer = self._call("GET", path)
        value: CountOrUnlimited = self._decoded(
            answer.get("value") if isinstance(answer, dict) else answer, CountOrUnlimited
        )
        return value

    def set_member_spend_cap(
        self, workspace: str, user: str, amount: Quantity | str | None, *, unit: str = "credits"
    ) -> None:
        """Caps what a member may spend per month (``None``: no cap)."""
        path = _path("customers", workspace, "members", user, "spend-cap")
        body = {"amount": None if amount is None else _amount(amount), "unit": unit}
        self._call("PUT", path, body)

    def add_member(
        self, workspace: str, user: str, role: str, *, idempotency_key: str | None = None
    ) -> Decision:
        """Adds a user to a workspace with ``role``, or changes a member's role."""
        path = _path("customers", workspace, "members", user)
        return self._decided("PUT", path, {"role": role}, idempotency_key)

    def remove_member(self, workspace: str, user: str) -> bool:
        """True when the user was a member. The owner goes last: transfer ownership first."""
        return self._removed(_path("customers", workspace, "members", user))

    def members(self, workspace: str) -> list[Member]:
        return self._read_list(_path("customers", workspace, "members"), Member)

    def transfer_ownership(
        self, workspace: str, new_owner: str, *, idempotency_key: str | None = None
    ) -> list[Member]:
        """Makes a member the owner; the previous owner becomes an admin."""
        path = _path("customers", workspace, "owner")
        key = idempotency_key or str(uuid.uuid4())
        answer = self._call("PUT", path, {"user": new_owner}, idempotency_key=key)
        return self._decoded_list(answer, Member)

    # -- reads --

    def balance(
        self,
        customer: str,
        *,
        unit: str = "credits",
        action: str | None = None,
        spender: str | None = None,
    ) -> Balance:
        query = {"unit": unit}
        if action is not None:
            query["action"] = action
        if spender is not None:
            query["spender"] = spender
        return self._read(_path("customers", customer, "balance"), Balance, query)

    # -- spenders, budgets, debt --

    def create_spender(
        self, customer: str, spender: str, *, kind: str, parent: str | None = None
    ) -> Spender:
        """Adds a spender under the customer or under ``parent`` (``CreditKit.create_spender``);
        its id is its own idempotency key."""
        body = {"id": spender, "kind": kind, "parent": parent}
        path = _path("customers", customer, "spenders")
        return self._write("POST", path, Spender, body, f"spender:{customer}:{spender}")

    def spenders(self, customer: str, *, limit: int = 1_000) -> tuple[Spender, ...]:
        found = self._read_list(_path("customers", customer, "spenders"), Spender)
        return tuple(found[:limit])

    def set_budget(
        self,
        customer: str,
        amount: Quantity | str | None,
        *,
        idempotency_key: str | None = None,
        spender: str | None = None,
        unit: str | None = None,
        period: str = "month",
    ) -> Budget | None:
        """Caps what ``spender`` (None: the customer) may spend per ``period``; ``amount``
        None removes the budget (``CreditKit.set_budget``)."""
        body = {
            "amount": None if amount is None else _amount(amount),
            "spender": spender,
            "unit": unit or "credits",
            "period": period,
        }
        path = _path("customers", customer, "budgets")
        return self._write("PUT", path, Budget | None, body, idempotency_key)  # type: ignore[arg-type]

    def budgets(
        self, customer: str, *, spender: str | None = None, unit: str = "credits"
    ) -> tuple[Budget, ...]:
        query = {"unit": unit} | ({} if spender is None else {"spender": spender})
        return tuple(self._read_list(_path("customers", customer, "budgets"), Budget, query))

    def set_debt_limit(
        self,
        customer: str,
        amount: Quantity | str,
        *,
        idempotency_key: str | None = None,
        unit: str | None = None,
    ) -> DebtLimit:
        """How far below zero the customer may go on purpose (``CreditKit.set_debt_limit``)."""
        body = {"amount": _amount(amount), "unit": unit or "credits"}
        path = _path("customers", customer, "debt-limit")
        return self._write("PUT", path, DebtLimit, body, idempotency_key)

    def hold(self, hold_id: int) -> Hold:
        return self._read(_path("holds", _row_id(hold_id, "hold_id")), Hold)

    def history(
        self,
        customer: str,
        *,
        unit: str = "credits",
        limit: int = 50,
        cursor: str | None = None,
        kinds: Sequence[str] | None = None,
        action: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        spender: str | None = None,
        subtree: bool = False,
    ) -> HistoryPage:
        """The customer's transactions, newest first; pass ``next_cursor`` for older ones. Only
        those of ``kinds``, of ``action``, created in [``start``, ``end``) when given; of
        ``spender`` (``subtree``: and every spender under it)."""
        query: dict[str, Any] = {"unit": unit, "limit": limit}
        if cursor is not None:
            query["cursor"] = cursor
        if kinds is not None:
            # Imported here: the ledger's checks load the store, which importing the client must
            # not (tests/client/test_client_alone.py).
            from creditkit.ledger.checks import check_kinds

            check_kinds(kinds)  # as the kit refuses them: the API would name ``kind[i]``
            query["kind"] = [str(kind) for kind in kinds]
        if action is not None:
            query["action"] = action
        if start is not None:
            query["start"] = _time(start, "start")
        if end is not None:
            query["end"] = _time(end, "end")
        query.update(_spender_query(spender, subtree))
        return self._read(_path("customers", customer, "history"), HistoryPage, query)

    # -- usage (docs/usage.md) --

    def usage_summary(
        self,
        customer: str,
        *,
        unit: str = "credits",
        period: tuple[datetime, datetime] | None = None,
        spender: str | None = None,
        subtree: bool = False,
    ) -> UsageSummary:
        """Spent, granted (by source), expired, transferred out, overage and allowance used over
        ``period`` = (start, end), end excluded (default: the current allowance period), with
        the balance now."""
        query: dict[str, Any] = {"unit": unit}
        if period is not None:
            if not isinstance(period, tuple) or len(period) != 2:
                raise InvalidRequest("period", "must be a (start, end) tuple")
            query["start"] = _time(period[0], "period")
            query["end"] = _time(period[1], "period")
        query.update(_spender_query(spender, subtree))
        path = _path("customers", customer, "usage", "summary")
        return self._read(path, UsageSummary, query)

    def usage_by_model(
        self, customer: str, *, start: datetime, end: datetime, unit: str = "credits"
    ) -> ModelUsage:
        """Tokens, cost in USD and credits per model in [start, end), costliest first
        (``CreditKit.usage_by_model``)."""
        query = {"start": _time(start, "start"), "end": _time(end, "end"), "unit": unit}
        return self._read(_path("customers", customer, "usage", "models"), ModelUsage, query)

    def usage_breakdown(
        self,
        customer: str,
        *,
        by: str,
        start: datetime,
        end: datetime,
        unit: str = "credits",
        limit: int = BREAKDOWN_GROUPS_DEFAULT,
        dimension: str | None = None,
        spender: str | None = None,
        subtree: bool = False,
    ) -> UsageBreakdown:
        """What was spent in [start, end) per ``by`` = ``"action"``, ``"category"``,
        ``"member"``, ``"spender"`` or ``"dimension"`` (the value of ``metadata[dimension]``):
        the ``limit`` largest groups, the rest in ``others_spent``; with ``spender``, only its
        spending (``subtree``: and its subtree's)."""
        if by in {known.value for known in BreakdownBy}:
            check_dimension(BreakdownBy(by), dimension)  # as the kit refuses it
        query: dict[str, Any] = {
            "by": str(by),
            "start": _time(start, "start"),
            "end": _time(end, "end"),
            "unit": unit,
            "limit": limit,
        }
        if dimension is not None:
            query["dimension"] = dimension
        query.update(_spender_query(spender, subtree))
        path = _path("customers", customer, "usage", "breakdown")
        return self._read(path, UsageBreakdown, query)

    def usage_series(
        self,
        customer: str,
        *,
        start: datetime,
        end: datetime,
        unit: str = "credits",
        granularity: str = "day",
    ) -> UsageSeries:
        """What was spent in [start, end) per UTC ``"day"`` (or ``"hour"``), zeros included."""
        query = {
            "start": _time(start, "start"),
            "end": _time(end, "end"),
            "unit": unit,
            "granularity": str(granularity),
        }
        return self._read(_path("customers", customer, "usage", "series"), UsageSeries, query)

    def ingest(
        self, events: Sequence[Mapping[str, Any]]
    ) -> list[Charge | EventAccepted | CreditKitError]:
        """Charges up to 1,000 usage events (``customer``, ``action``, ``quantity``,
        ``idempotency_key``, ``metadata``, ``member``), each priced by the catalog. One outcome
        per event, in order: its ``Charge`` or the error it met (one refusal fails nothing
        else); from a server with an events stream (``serve --events``), an ``EventAccepted``
        for each (charged later by a worker; ``event.refused`` webhooks tell of refusals).
        Unlike ``CreditKit``'s, an event the API cannot read (a missing key, an unknown field)
        fails the whole call with ``InvalidRequest`` naming ``events[i].<field>``."""
        if not isinstance(events, Sequence) or isinstance(events, str | bytes):
            raise InvalidRequest("events", "must be a list of events")
        if len(events) > INGEST_REQUEST_EVENTS_MAX:
            raise InvalidRequest("events", f"at most {INGEST_REQUEST_EVENTS_MAX} events per call")
        if not events:
            return []
        body = {"events": [_event(event, index) for index, event in enumerate(events)]}
        # The batch's key (each event has its own too): a retry gets the first answer.
        answer = self._call("POST", _path("events"), body, idempotency_key=str(uuid.uuid4()))
        results = answer.get("results") if isinstance(answer, dict) else None
        if not isinstance(results, list) or len(results) != len(events):
            raise ApiError(200, "response_invalid", "not one result per event", {})
        return [self._outcome(result) for result in results]

    def ingest_lag(self) -> IngestLag:
        """The ingest workers' lag, read from JetStream through the server's events stream
        (an admin key): per consumer, the messages not delivered yet, those not acknowledged,
        and the oldest one's age; with the events parked so far. A server without ``--events``
        refuses with ``EventsNotConfigured``; one whose stream does not answer, with
        ``EventsUnavailable`` (after the client's retries)."""
        return self._read(_path("ingest", "lag"), IngestLag)

    def parked_events(self, *, limit: int = 100, before_id: int | None = None) -> ParkedEventsPage:
        """The usage events the ingest workers parked (could not charge), newest first, each
        with its reason (an admin key); pass ``next_before_id`` as ``before_id`` for older."""
        query: dict[str, Any] = {"limit": limit}
        if before_id is not None:
            query["before_id"] = _row_id(before_id, "before_id")
        return self._read(_path("ingest", "parked-events"), ParkedEventsPage, query)

    # -- payments (docs/payments.md) --

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
        path = _path("customers", customer, "checkout")
        return self._write("POST", path, CheckoutSession, body, idempotency_key)

    def complete_sandbox_checkout(
        self, session_id: str, *, card: str = CARD_SUCCEEDS
    ) -> WebhookOutcome:
        """Pays a sandbox checkout with a test ``card`` (``4000000000000002`` is declined);
        ``applied`` is False when it was paid before."""
        path = _path("sandbox", "checkouts", session_id, "pay")
        return self._write("POST", path, WebhookOutcome, {"card": card}, None)

    def payment(self, payment_id: int) -> Payment:
        return self._read(_path("payments", _row_id(payment_id, "payment_id")), Payment)

    def refund(self, payment_id: int, *, idempotency_key: str | None = None) -> Refund:
        """Refunds a pack or top-up within the refund window; once per payment
        (``RefundRefused`` after)."""
        path = _path("payments", _row_id(payment_id, "payment_id"), "refund")
        return self._write("POST", path, Refund, None, idempotency_key)

    def receipts(self, customer: str, *, limit: int = 50, cursor: str | None = None) -> ReceiptPage:
        """Numbered receipts, newest first; pass ``next_cursor`` for older ones."""
        query: dict[str, Any] = {"limit": limit}
        if cursor is not None:
            query["cursor"] = cursor
        return self._read(_path("customers", customer, "receipts"), ReceiptPage, query)

    def receipt(self, receipt_id: int) -> Receipt:
        return self._read(_path("receipts", _row_id(receipt_id, "receipt_id")), Receipt)

    def save_payment_method(self, customer: str, payment_method: str) -> None:
        """The payment method auto top-ups and renewals charge."""
        path = _path("customers", customer, "payment-method")
        self._call("PUT", path, {"payment_method": payment_method})

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
            "threshold": _amount(threshold, "threshold"),
            "per_day_max": per_day_max,
            "target": None if target is None else _amount(target, "target"),
        }
        path = _path("customers", customer, "auto-top-up")
        settings: TopUpSettings = self._decoded(self._call("PUT", path, body), TopUpSettings)
        return settings

    def auto_top_up(self, customer: str) -> TopUpSettings | None:
        path = _path("customers", customer, "auto-top-up")
        settings: TopUpSettings | None = self._decoded(
            self._call("GET", path), TopUpSettings | None
        )
        return settings

    def disable_auto_top_up(self, customer: str) -> bool:
        """True when the customer had an auto top-up."""
        return self._removed(_path("customers", customer, "auto-top-up"))

    # -- events, webhooks and alerts (docs/notify.md) --

    def events(
        self,
        after_id: int = 0,
        limit: int = 100,
        *,
        customer: str | None = None,
        type: str | EventType | None = None,
    ) -> list[Event]:
        """Outbound events with an id above ``after_id``, oldest first, at most ``limit``;
        only the ``customer``'s, or of one ``type``, when given."""
        query: dict[str, Any] = {"after_id": after_id, "limit": limit}
        if customer is not None:
            query["customer"] = customer
        if type is not None:
            query["type"] = str(type)
        return self._read_list(_path("events"), Event, query)

    def register_webhook_endpoint(
        self,
        url: str,
        *,
        idempotency_key: str | None = None,
        event_types: Sequence[str | EventType] | None = None,
    ) -> RegisteredWebhookEndpoint:
        """Registers an http(s) ``url`` for events (only ``event_types``, when given). The
        answer holds the signing ``secret``: nothing else returns it."""
        types = None if event_types is None else [str(kind) for kind in event_types]
        body = {"url": url, "event_types": types}
        path = _path("webhook-endpoints")
        return self._write("POST", path, RegisteredWebhookEndpoint, body, idempotency_key)

    def rotate_webhook_secret(
        self, endpoint_id: int, *, idempotency_key: str | None = None
    ) -> RegisteredWebhookEndpoint:
        """A new signing ``secret`` for the endpoint (nothing else returns it). The previous one
        keeps signing beside it until ``endpoint.previous_secret_expires_at`` (24 hours)."""
        path = _endpoint_path(endpoint_id, "rotate-secret")
        return self._write("POST", path, RegisteredWebhookEndpoint, None, idempotency_key)

    def audit(self) -> AuditReport:
        """The ledger's audit (``GET /v1/audit``, an admin key): ``.ok`` or ``.problems``."""
        return self._read(_path("audit"), AuditReport)

    def webhook_endpoints(self) -> list[WebhookEndpoint]:
        """Every endpoint not deleted, oldest first (without secrets)."""
        return self._read_list(_path("webhook-endpoints"), WebhookEndpoint)

    def webhook_endpoint(self, endpoint_id: int) -> WebhookEndpoint:
        return self._read(_endpoint_path(endpoint_id), WebhookEndpoint)

    def disable_webhook_endpoint(self, endpoint_id: int) -> WebhookEndpoint:
        """Stops deliveries to the endpoint until it is enabled again."""
        path = _endpoint_path(endpoint_id, "disable")
        return self._write("POST", path, WebhookEndpoint, None, None)

    def enable_webhook_endpoint(self, endpoint_id: int) -> WebhookEndpoint:
        path = _endpoint_path(endpoint_id, "enable")
        return self._write("POST", path, WebhookEndpoint, None, None)

    def delete_webhook_endpoint(self, endpoint_id: int) -> None:
        """Deletes the endpoint; what it was still owed is marked failed."""
        self._call("DELETE", _endpoint_path(endpoint_id))

    def webhook_deliveries(
        self,
        *,
        after_id: int = 0,
        limit: int = 100,
        endpoint_id: int | None = None,
        status: str | None = None,
    ) -> list[Delivery]:
        """Deliveries with an id above ``after_id``, oldest first, at most ``limit``; of one
        endpoint, or one status (``pending``, ``delivered``, ``failed``), when given."""
        query: dict[str, Any] = {"after_id": after_id, "limit": limit}
        if endpoint_id is not None:
            query["endpoint_id"] = _row_id(endpoint_id, "endpoint_id")
        if status is not None:
            query["status"] = str(status)
        return self._read_list(_path("webhook-deliveries"), Delivery, query)

    def set_alerts(
        self,
        customer: str,
        *,
        unit: str = "credits",
        credits_left: Quantity | str | None = None,
        percent_used: Sequence[int] = (),
    ) -> Alerts:
        """Sets the customer's own alert thresholds for ``unit``, in place of its plan's;
        neither: no alerts for the customer. Returns the thresholds in force."""
        body = {
            "unit": unit,
            "credits_left": None if credits_left is None else _amount(credits_left, "credits_left"),
            "percent_used": list(percent_used),
        }
        alerts: Alerts = self._decoded(
            self._call("PUT", _path("customers", customer, "alerts"), body), Alerts
        )
        return alerts

    def clear_alerts(self, customer: str, *, unit: str = "credits") -> Alerts:
        """Drops the customer's own thresholds for ``unit``: its plan's apply again."""
        path = _path("customers", customer, "alerts")
        alerts: Alerts = self._decoded(self._call("DELETE", path, query={"unit": unit}), Alerts)
        return alerts

    def alerts(self, customer: str, *, unit: str = "credits") -> Alerts:
        """The alert thresholds in force for the customer and ``unit``, and their source."""
        return self._read(_path("customers", customer, "alerts"), Alerts, {"unit": unit})

    # -- session tokens --

    def issue_session(
        self,
        customer: str,
        *,
        user: str | None = None,
        permissions: Sequence[SessionPermission | str] = tuple(SessionPermission),
        ttl_seconds: int = SESSION_TTL_SECONDS_DEFAULT,
    ) -> SessionToken:
        """A short-lived token for one customer's browser (``CreditKit.keys.issue_session``);
        for a workspace, ``user`` names the member acting."""
        body = {
            "user": user,
            "permissions": [str(permission) for permission in permissions],
            "ttl_seconds": ttl_seconds,
        }
        path = _path("customers", customer, "session-tokens")
        # A key per call, reused by its retries: a retried request gets the same token.
        return self._write("POST", path, SessionToken, body, None)

    def session(self) -> SessionInfo:
        """Whose the client's session token is (``GET /v1/session``): its customer, member,
        permissions and expiry. Refused (``ApiError``, 403
        ``session_token_required``) when the client holds a secret key."""
        return self._read("/v1/session", SessionInfo, {})

    def issue_session_code(
        self,
        customer: str,
        *,
        user: str | None = None,
        permissions: Sequence[SessionPermission | str] = tuple(SessionPermission),
        ttl_seconds: int = SESSION_TTL_SECONDS_DEFAULT,
        code_ttl_seconds: int = SESSION_CODE_TTL_SECONDS_DEFAULT,
    ) -> SessionCode:
        """A session link's single-use code (``CreditKit.keys.issue_session_code``): send the
        browser to ``/app/session?code=<code>``."""
        body = {
            "user": user,
            "permissions": [str(permission) for permission in permissions],
            "ttl_seconds": ttl_seconds,
            "code_ttl_seconds": code_ttl_seconds,
        }
        path = _path("customers", customer, "session-codes")
        return self._write("POST", path, SessionCode, body, None)

    def revoke_sessions(self, customer: str, *, user: str | None = None) -> None:
        """Signs the customer (or its member ``user``) out everywhere
        (``CreditKit.keys.revoke_sessions``)."""
        query = None if user is None else {"user": user}
        self._call("DELETE", _path("customers", customer, "session-tokens"), query=query)

    # -- the wire --

    def _action(self, action: str) -> Action | None:
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
            costs = self._call("GET", _path("catalog", "action-costs"))
        except ApiError as error:
            if error.problem == "no_catalog":
                return {}
            raise
        if not isinstance(costs, list) or not all(isinstance(cost, dict) for cost in costs):
            raise ApiError(200, "response_invalid", "action costs: expected a list of objects", {})
        return {
            cost.get("action"): self._decoded(
                {**cost, "id": cost.get("action"), "price": cost.get("cost")}, Action
            )
            for cost in costs
        }

    def _removed(self, path: str) -> bool:
        """A DELETE that answers ``{"removed": true|false}``."""
        answer = self._call("DELETE", path)
        removed: bool = self._decoded(
            answer.get("removed") if isinstance(answer, dict) else answer, bool
        )
        return removed

    def _outcome(self, result: Any) -> Charge | EventAccepted | CreditKitError:
        """One event's result of ``POST /v1/events``: its charge, its acceptance by the events
        stream, or its error rebuilt."""
        if isinstance(result, dict) and result.get("status") == 202:
            return EventAccepted(str(result.get("idempotency_key")))
        if isinstance(result, dict) and "charge" in result:
            charge: Charge = self._decoded(result["charge"], Charge)
            return charge
        if isinstance(result, dict) and isinstance(result.get("status"), int):
            return error_from_problem(result["status"], result.get("error"), str(result))
        raise ApiError(200, "response_invalid", f"an event's result: {result!r}"[:300], {})

    def _read(self, path: str, kind: type[T], query: Mapping[str, Any] | None = None) -> T:
        answer: T = self._decoded(self._call("GET", path, query=query), kind)
        return answer

    def _read_list(
        self, path: str, item: type[T], query: Mapping[str, Any] | None = None
    ) -> list[T]:
        return self._decoded_list(self._call("GET", path, query=query), item)

    def _write(
        self,
        method: str,
        path: str,
        kind: type[T],
        body: Mapping[str, Any] | None,
        idempotency_key: str | None,
    ) -> T:
        key = idempotency_key or str(uuid.uuid4())
        answer: T = self._decoded(self._call(method, path, body, idempotency_key=key), kind)
        return answer

    def _decided(
        self, method: str, path: str, body: Mapping[str, Any], idempotency_key: str | None
    ) -> Decision:
        """An entitlement write: the API's 403 ``limit_reached`` is the kit's refused Decision."""
        try:
            return self._write(method, path, Decision, body, idempotency_key)
        except ApiError as error:
            if error.problem != "limit_reached":
                raise
            refused: Decision = self._decoded({**error.facts, "allowed": False}, Decision)
            return refused

    @staticmethod
    def _decoded(value: Any, kind: Any) -> Any:
        """``value`` as ``kind``; an answer of another shape is an ``ApiError``."""
        try:
            return decode(value, kind)
        except Mismatch as mismatch:
            raise ApiError(200, "response_invalid", str(mismatch), {}) from None

    def _decoded_list(self, value: Any, item: type[T]) -> list[T]:
        items: list[T] = self._decoded(value, list[item])  # type: ignore[valid-type]
        return items

    def _call(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        query: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Any:
        """The parsed JSON of a successful answer (None for 204); else the error it stands
        for, raised."""
        response = self._send(method, path, body, query, idempotency_key)
        if response.status_code == 204:
            return None
        try:
            parsed = json.loads(response.content, parse_float=Decimal)
        except ValueError:
            parsed = None
        if response.is_success:
            return parsed
        raise error_from_problem(response.status_code, parsed, response.text)

    def _send(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None,
        query: Mapping[str, Any] | None,
        idempotency_key: str | None,
    ) -> httpx.Response:
        """Sends, and sends again (the same request, the same key) after a failed connection,
        a 429 or a 503, waiting ``Retry-After`` or a backoff in between."""
        headers = {} if idempotency_key is None else {"Idempotency-Key": idempotency_key}
        budget = RetryBudget(self._retry_wait_seconds_max)
        for retry in range(self._retries_max + 1):
            last = retry == self._retries_max
            try:
                response = self._http.request(
                    method, path, json=body, params=query, headers=headers
                )
            except RETRIED_TRANSPORT_ERRORS as failure:
                wait = backoff_seconds(retry, self._chance)
                if last or not budget.take(wait):
                    raise ServiceUnreachable(self.base_url, retry + 1, repr(failure)) from failure
                self._sleep(wait)
                continue
            if response.status_code not in RETRIED_STATUSES or last:
                return response
            told = retry_after_seconds(response)
            if told is not None and told > RETRY_AFTER_SECONDS_MAX:
                return response
            wait = backoff_seconds(retry, self._chance) if told is None else told
            if not budget.take(wait):
                return response
            self._sleep(wait)
        raise AssertionError("unreachable: the last attempt returns or raises")


def _path(*segments: str) -> str:
    """``/v1/`` and the segments, each escaped: an id with ``?``, ``#`` or spaces stays one
    segment."""
    return "/v1/" + "/".join(quote(segment, safe="") for segment in segments)


def _row_id(row_id: int, field: str) -> str:
    """A hold's, payment's, receipt's or webhook endpoint's id as a path segment."""
    if isinstance(row_id, bool) or not isinstance(row_id, int) or row_id < 1:
        raise InvalidRequest(field, "must be a positive int")
    return str(row_id)


def _endpoint_path(endpoint_id: int, *rest: str) -> str:
    return _path("webhook-endpoints", _row_id(endpoint_id, "endpoint_id"), *rest)


def _event(event: object, index: int) -> dict[str, Any]:
    if not isinstance(event, Mapping):
        raise InvalidRequest(f"events[{index}]", "must be a mapping")
    return dict(event)


def _money(money: Money, field: str) -> dict[str, Any]:
    if not isinstance(money, Money):
        raise InvalidRequest(field, "must be Money with a non-negative int and a 3-letter currency")
    return {"amount_minor": money.amount_minor, "currency": money.currency}


def _amount(amount: object, field: str = "amount") -> int | str:
    """An amount as JSON: an integer, or a decimal string (exact); never a float."""
    if isinstance(amount, bool) or not isinstance(amount, int | Decimal | str):
        raise InvalidAmount(
            field,
            f"must be an int, Decimal or decimal string, not {type(amount).__name__}"
            " (floats are not exact)",
        )
    return amount if isinstance(amount, int | str) else str(amount)


def _spender_query(spender: str | None, subtree: bool) -> dict[str, str]:
    """A read's spender filter as query parameters (``subtree`` alone is sent, so that the
    server names it in its refusal)."""
    query: dict[str, str] = {}
    if spender is not None:
        query["spender"] = spender
    if spender is not None or subtree:
        query["subtree"] = "true" if subtree else "false"
    return query


def _time(moment: datetime | None, field: str) -> str | None:
    if moment is None:
        return None
    if not isinstance(moment, datetime):
        raise InvalidRequest(field, "must be a timezone-aware datetime")
    if moment.tzinfo is None:
        raise InvalidRequest(field, "must be timezone-aware")
    return moment.isoformat()
