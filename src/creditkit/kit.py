"""``CreditKit``: the engine, embedded in your process."""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import random
import warnings
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from creditkit.analytics.schemas import Analytics, CustomerPage
from creditkit.analytics.service import AnalyticsService
from creditkit.catalog import Catalog, CountOrUnlimited, Pack, Plan, load_catalog
from creditkit.clock import Clock, checked_clock, system_clock
from creditkit.derived_keys import bonus_key
from creditkit.entitlements.schemas import Decision, LimitUsage, Member, RateDecision
from creditkit.entitlements.service import EntitlementService
from creditkit.errors import CreditKitError, InvalidRequest, Quantity, present
from creditkit.events.errors import EventsNotConfigured
from creditkit.events.repository import PARKED_PAGE_MAX, parked_page
from creditkit.events.schemas import IngestLag, ParkedEventItem, ParkedEventsPage
from creditkit.keys.secrets import ServiceSecrets
from creditkit.keys.service import KeyService
from creditkit.ledger.audit import audit
from creditkit.ledger.checks import check_history_filters
from creditkit.ledger.coalescing import GroupCommitStats
from creditkit.ledger.kernel import DueHook, LedgerHooks, SpendHook
from creditkit.ledger.late_usage import LATE_USAGE_WINDOW_DEFAULT, check_late_usage_window
from creditkit.ledger.outcomes import ChargeOutcomes
from creditkit.ledger.reversals import REVERSAL_WINDOW_DEFAULT, check_reversal_window
from creditkit.ledger.schemas import (
    Adjustment,
    AuditReport,
    Balance,
    Budget,
    Charge,
    ChargeRequest,
    Customer,
    DebtLimit,
    Grant,
    HistoryPage,
    Hold,
    Money,
    Reversal,
    Spender,
    SweepReport,
    Transfer,
    Unit,
)
from creditkit.ledger.service import LedgerService
from creditkit.ledger.timeline import WORKER_TRANSACTIONS_PER_CUSTOMER_MAX
from creditkit.metering.lease import Lease
from creditkit.metering.metered import HOLD_TIMEOUT_SECONDS_DEFAULT, Meter, open_meter
from creditkit.metering.metered_tokens import TokenMeter
from creditkit.notify.alerts import AlertService
from creditkit.notify.outbound import OutboundPolicy
from creditkit.notify.schemas import (
    Alerts,
    Delivery,
    Event,
    EventType,
    RegisteredWebhookEndpoint,
    WebhookEndpoint,
)
from creditkit.notify.sealing import Sealer
from creditkit.notify.webhooks import WebhookService
from creditkit.notify.worker import Worker
from creditkit.payments.renewals import RenewalCollector
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
from creditkit.payments.service import PaymentService, PaymentSettings
from creditkit.pricing.charging import quote_for_key, with_price
from creditkit.pricing.schemas import Quote
from creditkit.pricing.service import PricingService
from creditkit.store.database import Database
from creditkit.store.migrate import upgrade_to_head
from creditkit.store.unit_of_work import CustomerRow
from creditkit.subscriptions.collection import check_collected
from creditkit.subscriptions.schemas import BillingLine, Subscription
from creditkit.subscriptions.service import SubscriptionService
from creditkit.usage.checks import BREAKDOWN_GROUPS_DEFAULT
from creditkit.usage.models import ModelUsageService
from creditkit.usage.rollups import UsageRollups
from creditkit.usage.schemas import ModelUsage, UsageBreakdown, UsageSeries, UsageSummary
from creditkit.usage.service import UsageService

DEFAULT_UNITS: Mapping[str, int] = {"credits": 0}


class CreditKit:
    """A credit ledger on one database: ``sqlite:///credits.db`` (embedded, the default) or
    ``postgresql://…`` (production). Opening it creates or upgrades the schema.

    ``catalog`` (a YAML file's path, or a loaded ``Catalog``) declares units, actions, plans and
    packs; see docs/catalog.md.

    ``units`` maps each unit's name to its scale (decimal places); units already in the
    database stay declared. ``clock`` returns an aware UTC datetime and is read once per
    operation; tests pass a ``ManualClock``. ``payments`` chooses the payment provider (the
    offline sandbox by default) and the refund and grace periods; see docs/payments.md.
    ``secret_key`` encrypts webhook endpoint secrets at rest (default: ``CREDITKIT_SECRET_KEY``,
    else on a SQLite file a key file beside it), and every secret the service keeps in its
    database; see docs/notify.md and docs/security.md. ``webhook_policy`` is where webhooks may
    go (``OutboundPolicy``: public https addresses only, unless ``allow_private`` is on for
    development).

    ``group_commit`` (on by default) lets the writes that threads ask for at once share one
    database transaction, each with its own outcome; ``writer_lanes`` is how many such
    transactions may be in flight at once (default 4 on PostgreSQL, where writers of different
    customers do not wait for each other; 1 on SQLite); see docs/ledger.md.

    One instance is safe to share between threads, and several processes may open one
    database at once. Every write takes an ``idempotency_key``: the same key with the same
    request returns the first outcome (a refusal too); with a different request it raises
    ``IdempotencyConflict`` naming the field that differs.
    """

    def __init__(
        self,
        url: str = "sqlite:///credits.db",
        *,
        catalog: str | os.PathLike[str] | Catalog | None = None,
        clock: Clock | None = None,
        units: Mapping[str, int] | None = None,
        payments: PaymentSettings | None = None,
        secret_key: str | None = None,
        group_commit: bool = True,
        writer_lanes: int | None = None,
        webhook_policy: OutboundPolicy | None = None,
        reversal_window: timedelta = REVERSAL_WINDOW_DEFAULT,
        late_usage_window: timedelta = LATE_USAGE_WINDOW_DEFAULT,
    ) -> None:
        if catalog is not None and not isinstance(catalog, Catalog):
            catalog = load_catalog(catalog)
        self.catalog: Catalog | None = catalog
        declared = dict(DEFAULT_UNITS if units is None else units)
        if catalog is not None:
            declared.update({name: spec.scale for name, spec in catalog.units.items()})
        self._database = Database(url)
        engine = self._database.engine
        sealer = Sealer.of(
            secret_key, engine.url.database if self._database.dialect == "sqlite" else None
        )
        upgrade_to_head(engine, seal_secret=sealer.seal, unseal_secret=sealer.unseal)
        # Every part is handed the database and the clock it uses, not reached through another.
        database, self._clock = self._database, checked_clock(clock or system_clock)
        self._ledger = LedgerService(
            database,
            self._clock,
            declared,
            group_commit=group_commit,
            writer_lanes=writer_lanes,
        )
        self._ledger.reversal_window = check_reversal_window(reversal_window)
        self._ledger.late_usage_window = check_late_usage_window(late_usage_window)
        settings = payments or PaymentSettings()
        # Subscriptions renew; payments collects the renewals (the one place they are joined).
        self._subscriptions = (
            None
            if catalog is None
            else SubscriptionService(
                self._ledger,
                database,
                self._clock,
                catalog,
                RenewalCollector(settings.provider, catalog),
            )
        )
        self._entitlements = (
            None
            if catalog is None
            else EntitlementService(self._ledger, database, self._clock, catalog)
        )
        self._alerts = AlertService(
            self._ledger, database, self._clock, catalog, self._subscriptions
        )
        self._shared_secrets = ServiceSecrets(database, self._clock, sealer)
        self._webhooks = WebhookService(
            database, self._clock, sealer, webhook_policy or OutboundPolicy()
        )
        self._payments = None
        if catalog is not None and self._subscriptions is not None:
            self._payments = PaymentService(
                self._ledger,
                database,
                self._clock,
                catalog,
                self._subscriptions,
                settings,
                self._shared_secrets,
            )
        self._ledger.connect(self._hooks())
        self._usage = UsageService(
            self._ledger, database, self._clock, catalog, self._subscriptions
        )
        self._pricing = PricingService(catalog, self._ledger.unit)
        self._model_usage = ModelUsageService(self._ledger, database, catalog)
        self._analytics = AnalyticsService(
            self._ledger, database, self._clock, catalog, self._subscriptions
        )

    def _hooks(self) -> LedgerHooks:
        """The ledger's follow-ups, in the order they run (see ``LedgerHooks``)."""
        due: list[DueHook] = []
        spend: list[SpendHook] = [self._alerts.spent]
        if self._subscriptions is not None:
            due.append(self._subscriptions.renew_due)
        if self._payments is not None:
            due.append(self._payments.due_work)
            spend.append(self._payments.spent)
        dimensions = () if self.catalog is None else tuple(self.catalog.dimensions)
        rollups = UsageRollups(self._database, self._clock, dimensions)
        rollups.fill_dimensions()
        return LedgerHooks(
            due=tuple(due),
            spend=tuple(spend),
            # The usage rollups, then the percent-used alerts.
            recorded=(rollups.record, self._alerts.recorded)
            + (() if self._subscriptions is None else (self._subscriptions.recorded,)),
            headroom=None if self._subscriptions is None else self._subscriptions.headroom,
            count_requests=(
                None if self._entitlements is None else self._entitlements.count_requests
            ),
            # Asked on every spend that names a spender: only when some plan sets defaults.
            default_budgets=(
                self._subscriptions.default_budgets
                if self._subscriptions is not None
                and any(plan.spender_budgets for plan in self._catalog_required().plans.values())
                else None
            ),
            debt_limit=None if self._subscriptions is None else self._subscriptions.debt_limit,
            action_scope=None if self.catalog is None else self._action_scope,
        )

    def _action_scope(self, action: str) -> frozenset[str]:
        """What a grant's ``applies_to`` may name to pay for ``action``: the action, and its
        catalog category when it has one."""
        catalog = self._catalog_required()
        found = catalog.actions.get(action)
        if found is None or found.category is None:
            return frozenset((action,))
        return frozenset((action, found.category))

    @functools.cached_property
    def keys(self) -> KeyService:
        """Secret API keys and customer session tokens, for the HTTP service."""
        return KeyService(self._database, self._clock, self._shared_secrets)

    @property
    def database(self) -> Database:
        """The database this kit opened (for creditkit's own service layers)."""
        return self._database

    def now(self) -> datetime:
        """The kit's clock, read once."""
        return self._clock()

    def ping(self) -> None:
        """Raises when the database does not answer (a health check)."""
        with self._database.read() as connection:
            connection.execute(sa.text("SELECT 1")).scalar_one()

    def close(self) -> None:
        """Closes the database connections."""
        self._ledger.close()
        self._database.dispose()

    def __enter__(self) -> CreditKit:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def units(self) -> tuple[Unit, ...]:
        return self._ledger.units()

    # -- customers --

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

    # -- writes --

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

    def quote(self, action: str, usage: object, *, at: datetime | None = None) -> Quote:
        """What ``usage`` would cost under the token-priced ``action`` at ``at`` (default now):
        the credits (``amount`` of ``unit``, rounded up to the unit's scale) and the price
        record a charge would carry. Writes nothing. Raises ``UnknownAction``,
        ``InvalidRequest`` naming the usage's field, ``UnknownModel``."""
        if at is not None and (not isinstance(at, datetime) or at.tzinfo is None):
            raise InvalidRequest("at", "must be an aware datetime")
        return self._pricing.quote(action, usage, self.now() if at is None else at)

    def reserve(
        self,
        customer: str,
        amount: Quantity | str,
        *,
        idempotency_key: str,
        unit: str = "credits",
        timeout_seconds: int = HOLD_TIMEOUT_SECONDS_DEFAULT,
        action: str | None = None,
        metadata: dict[str, Any] | None = None,
        rate_limited: bool = False,
        spender: str | None = None,
        parent: int | None = None,
    ) -> Hold:
        """Sets credits aside for work whose cost is not known yet. Commit or release the hold
        before ``timeout_seconds``; after that it releases itself. ``rate_limited`` counts the
        call against the plan's ``rate_limit_per_minute`` in the reserve's own transaction, and
        raises ``RateLimited`` past it (as the HTTP API does). ``spender``: who holds; the hold
        counts against the budgets on its path while open, and gives back what it did not spend
        when it closes.

        ``parent``: a hold of the same customer and unit to draw from instead of the grants (an
        orchestrator's hold funding its sub-agents'): never past what the parent has left
        (``HoldParentExceeded``), at most four levels deep, at most 256 open holds under one
        root. The child's timeout is capped by its parent's. Releasing the parent releases its
        open children; a final commit of a parent with open children is refused
        (``HoldHasOpenChildren``). A child counts only against the budgets of its own
        spender's path that its parent's path does not have (a sub-agent's own budgets: the
        parent's were counted when the parent reserved); without a spender it holds as its
        parent's spender."""
        return self._ledger.reserve(
            customer,
            amount,
            unit=unit,
            timeout_seconds=timeout_seconds,
            idempotency_key=idempotency_key,
            action=action,
            metadata=metadata,
            rate_limited=rate_limited,
            spender=spender,
            parent=parent,
        )

    def extend(
        self,
        hold_id: int,
        amount: Quantity | str | None = None,
        timeout_seconds: int | None = None,
        *,
        idempotency_key: str,
    ) -> Hold:
        """Raises an open hold by ``amount`` (with every check a new reserve gets: the
        budgets on the hold's path and the credits that apply to its action, or for a child
        its parent's remaining and its own levels' budgets) and/or pushes its
        timeout to ``timeout_seconds`` from now (never earlier than it was; a child's no later
        than its parent's). A hold lives at most 30 days from its reserve, however extended:
        an extend past that is refused (``InvalidRequest`` naming ``timeout_seconds``)."""
        return self._ledger.extend(
            hold_id, amount, timeout_seconds, idempotency_key=idempotency_key
        )

    def commit(
        self,
        hold_id: int,
        amount: Quantity | str | None = None,
        *,
        idempotency_key: str,
        final: bool = True,
        metadata: dict[str, Any] | None = None,
        allow_debt: bool = False,
        usage: object | None = None,
    ) -> Charge:
        """Spends ``amount`` (at most what the hold has left, zero allowed) of the hold.
        ``final`` (the default): the rest goes back to the grants it came from (a child's to
        its parent) and the hold closes; refused with ``HoldHasOpenChildren`` while holds taken
        under it are open (commit or release them first). ``final=False``: spends ``amount``
        (more than zero) and keeps the rest open for more commits, an extend, a final commit or
        a release (several captures).

        Above what the hold has left it raises ``HoldAmountExceeded``, unless ``allow_debt``:
        final or partial, the hold's remaining credits are spent and the excess is spent like a
        charge for the hold's action (the budgets on its spender's path, then the credits that
        apply, then debt within the limit); a partial commit leaves the hold open with nothing
        left.

        ``usage`` instead of ``amount``: the hold's action must be priced by tokens; the amount
        is the usage's price (``quote``), recorded in the commit's metadata as a charge's."""
        if usage is not None:
            if amount is not None:
                raise InvalidRequest("amount", "a usage prices the commit: leave it out")
            action = self._ledger.hold(hold_id).action
            if action is None:
                raise InvalidRequest("usage", f"hold {hold_id} names no action to price it")
            quote = quote_for_key(
                self._pricing, self._ledger, self._clock, action, usage, idempotency_key
            )
            amount, metadata = quote.amount, with_price(metadata, quote)
        if amount is None:
            raise InvalidRequest("amount", "give the amount to commit, or the usage to price")
        return self._ledger.commit(
            hold_id, amount, final=final, idempotency_key=idempotency_key, metadata=metadata,
            allow_debt=allow_debt,
        )  # fmt: skip

    def release(self, hold_id: int, *, idempotency_key: str) -> Hold:
        """Gives back everything the hold has left (what it committed in part stays spent):
        its open children are released first, then its credits go back to the grants they
        came from (a child's to its parent)."""
        return self._ledger.release(hold_id, idempotency_key=idempotency_key)

    def lease(
        self,
        customer: str,
        amount: Quantity | str,
        *,
        idempotency_key: str,
        unit: str = "credits",
        timeout_seconds: int = HOLD_TIMEOUT_SECONDS_DEFAULT,
        batch: Quantity | str | None = None,
        extend_by: Quantity | str | None = None,
        action: str | None = None,
        parent: int | None = None,
        spender: str | None = None,
    ) -> Lease:
        """A hold of ``amount`` a worker spends against locally: ``spend(n)`` counts in memory
        and reports every ``batch`` through a partial commit, extending the hold by
        ``extend_by`` when it runs short; the worker never counts past what the hold holds (see
        ``creditkit.Lease``)."""
        return Lease.open(
            self,
            customer,
            amount,
            idempotency_key=idempotency_key,
            unit=unit,
            timeout_seconds=timeout_seconds,
            batch=batch,
            extend_by=extend_by,
            action=action,
            parent=parent,
            spender=spender,
        )

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
        """A hold around work whose cost is known once it is done::

            with ck.metered("alice", "ask_anything", estimate=50) as meter:
                meter.actual = run_the_model().credits

        Reserves ``estimate`` (default: the action's catalog price, in its unit) on entry;
        commits ``meter.actual`` (default: the estimate) on a normal exit, releases the hold on
        an exception (which goes on). Writes are keyed ``<key>:reserve``, ``<key>:commit`` and
        ``<key>:release`` from ``idempotency_key`` (default: a fresh uuid4). With ``spender``
        the hold is that spender's, within every budget on its path."""
        return open_meter(
            self,
            lambda name: None if self.catalog is None else self.catalog.actions.get(name),
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
        """A hold around a model call of an action priced by tokens, grown while it streams::

            request = {"model": "gpt-4o", "input_tokens": 900, "output_tokens": 1024}
            with ck.metered_tokens("alice", "chat", request) as meter:
                for chunk in stream:
                    meter.seen(1)
                meter.usage = final_usage

        Reserves the price of ``usage`` (the request's input tokens and its max_tokens, or an
        estimate) on entry; extends the hold by the price of ``extend_tokens`` more output
        tokens (default: the request's) once the tokens ``seen`` reach what it holds; commits
        ``meter.usage`` (the provider's, as it comes; default: the request's input and the
        output seen) on exit. Usage above what the customer can cover is owed only with
        ``allow_debt``; without it the commit takes the hold and ``meter.uncovered`` says the
        rest. An exception before any output releases the hold; after, what streamed is
        committed. See docs/streams.md."""
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

    def remove_credits(
        self,
        customer: str,
        amount: Quantity | str,
        *,
        idempotency_key: str,
        unit: str = "credits",
        metadata: dict[str, Any] | None = None,
    ) -> Adjustment:
        """Takes credits back from the customer (an operator's adjustment down; there is no
        negative grant): from its live grants in burn-down order, back to issuance, as one
        ``adjustment`` transaction in its history. Un-issued, not spent: usage and consumption
        figures do not count it, and it sets off no alert or automatic top-up. Raises
        ``InsufficientCredits`` (recorded, nothing moved) when the grants hold less: credits in
        holds are in use, and overage or an unlimited plan leave nothing to take back. Put the
        reason and who decided in ``metadata``."""
        return self._ledger.remove(
            customer, amount, unit=unit, idempotency_key=idempotency_key, metadata=metadata
        )

    def void_grant(
        self,
        grant_id: int,
        amount: Quantity | str | None = None,
        *,
        reason: str,
        idempotency_key: str,
    ) -> Adjustment:
        """Takes ``amount`` of one chosen grant (None: all that is left of it) back to
        issuance, as one ``void`` transaction in the customer's history with ``reason``. Un-issued,
        not spent, like ``remove_credits``; unlike it, only this grant is touched. Raises
        ``InsufficientCredits`` (recorded, nothing moved) when the grant holds less."""
        return self._ledger.void_grant(
            grant_id, amount, reason=reason, idempotency_key=idempotency_key
        )

    def reverse_charge(
        self,
        charge_key: str,
        amount: Quantity | str | None = None,
        *,
        reason: str,
        idempotency_key: str,
    ) -> Reversal:
        """Gives back ``amount`` (None: all that is not reversed yet) of the charge recorded
        under the idempotency key ``charge_key``, as one ``reversal`` transaction in the
        customer's history, linked to the charge, with ``reason``. The credits go back the way
        the charge took them, in the reverse of the burn-down (debt, then overage, then the
        grants, last drawn first); the part of a grant that expired since goes to breakage.
        Usage counts it in the charge's period; the budgets that counted the charge count it
        less. Partial reversals accumulate. Raises ``InvalidRequest`` naming ``charge_key`` (no
        such charge, a refused charge, not a charge, past the reversal window) or ``amount``
        (more than is left to reverse)."""
        return self._ledger.reverse_charge(
            charge_key, amount, reason=reason, idempotency_key=idempotency_key
        )

    def change_grant_expiry(
        self,
        grant_id: int,
        expires_at: datetime | None,
        *,
        reason: str,
        idempotency_key: str,
    ) -> Grant:
        """Moves what is left of the grant into a new grant expiring at ``expires_at`` (None:
        never; never in the past), as one ``expiry_change`` transaction in the customer's history
        with ``reason``. Returns the new grant; the old one keeps its history and holds
        nothing."""
        return self._ledger.change_grant_expiry(
            grant_id, expires_at, reason=reason, idempotency_key=idempotency_key
        )

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

    # -- subscriptions (need a catalog) --

    def subscribe(
        self,
        customer: str,
        plan: str,
        *,
        interval: str = "month",
        trial_days: int = 0,
        pay_with: str = "money",
        collected_elsewhere: bool = False,
    ) -> Subscription:
        """Puts the customer on ``plan``, billed every ``interval`` (``"month"`` or ``"year"``);
        periods are anchored on today (anniversary). For a customer already subscribed (every
        customer starts on the default plan) this is ``change_plan``. ``pay_with="credits"``
        pays each period from the balance at the plan's price in credits. A plan priced in
        money raises ``CheckoutRequired`` (start it with ``checkout``, which collects it)
        unless ``collected_elsewhere``: the app's own billing collects its billing lines."""
        subscriptions = self._subscriptions_required()
        check_collected(
            self._catalog_required(), customer, plan, interval, pay_with, collected_elsewhere
        )
        return subscriptions.subscribe(customer, plan, interval, trial_days, pay_with)

    def change_plan(
        self,
        customer: str,
        plan: str,
        *,
        interval: str | None = None,
        allowance_on_upgrade: str = "difference",
    ) -> Subscription:
        """Upgrades now (prorated to the second; the allowance raised by the difference, or
        ``"full"``, or ``"none"``); downgrades at the end of the billing period. A plan that
        Stripe bills changes there too (see docs/payments.md)."""
        subscriptions = self._subscriptions_required()
        if self._payments is not None:
            return self._payments.change_plan(customer, plan, interval, allowance_on_upgrade)
        return subscriptions.change_plan(customer, plan, interval, allowance_on_upgrade)

    def cancel(self, customer: str, *, at_period_end: bool = True) -> Subscription:
        """Back to the default plan at the end of the billing period, or now (and the Stripe
        subscription of a plan Stripe bills with it)."""
        subscriptions = self._subscriptions_required()
        if self._payments is not None:
            return self._payments.cancel(customer, at_period_end)
        return subscriptions.cancel(customer, at_period_end)

    def reset_period(self, customer: str, *, reason: str, idempotency_key: str) -> Subscription:
        """Ends the customer's allowance period now and starts a new one: overage billed or
        carried, the rollover applied, the rest expired, the new allowance granted and the
        per-period counters restarted; a ``period_reset`` with ``reason`` in its history. The
        billing period is unchanged. The same ``idempotency_key`` again changes nothing."""
        return self._subscriptions_required().reset_period(customer, reason, idempotency_key)

    def subscription(self, customer: str) -> Subscription | None:
        return self._subscriptions_required().subscription(customer)

    def plan_of(self, customer: str) -> Plan:
        """The plan whose terms apply to the customer now (grandfathered version included)."""
        return self._subscriptions_required().plan_of(customer)

    def billing_lines(self, customer: str, *, limit: int = 50) -> tuple[BillingLine, ...]:
        """What the customer owes, newest first: period fees and upgrade prorations."""
        return self._subscriptions_required().billing_lines(customer, limit)

    def tick(self) -> SweepReport:
        """Runs everything that has fallen due: renewals, expiries, hold timeouts. Optional:
        every read or write of a customer does that customer's due work first."""
        return self._ledger.tick()

    def _catalog_required(self) -> Catalog:
        if self.catalog is None:
            raise InvalidRequest("catalog", "this needs CreditKit(..., catalog=...)")
        return self.catalog

    def _subscriptions_required(self) -> SubscriptionService:
        self._catalog_required()
        return present(self._subscriptions, "a kit with a catalog has its subscriptions service")

    # -- entitlements (need a catalog; see docs/entitlements.md) --

    def entitled(self, customer: str, feature: str) -> Decision:
        """Does the plan in force grant ``feature``? When not, ``upgrade_to`` names the
        lowest-ranked plan above it that does. A feature no plan grants is an InvalidRequest."""
        return self._entitlements_required().entitled(customer, feature)

    def acquire(self, customer: str, limit: str, resource_id: str) -> Decision:
        """Counts a live thing (a task, an agent: ``resource_id`` is yours) against a ``count``
        limit; acquiring it again counts nothing. Refused (``allowed`` False, nothing written)
        when it would take the count over the plan's cap. Undo with ``release_resource``."""
        return self._entitlements_required().acquire(customer, limit, resource_id)

    def release_resource(self, customer: str, limit: str, resource_id: str) -> bool:
        """Stops counting the thing (it was deleted); True when it was counted. Not to be
        confused with ``release``, which gives back a hold's credits."""
        return self._entitlements_required().release_resource(customer, limit, resource_id)

    def track(
        self, customer: str, limit: str, quantity: int = 1, *, idempotency_key: str
    ) -> Decision:
        """Counts ``quantity`` against a ``per_period`` limit (scheduled posts per month) in the
        current period, exactly once per key (per customer); refusals are recorded too."""
        return self._entitlements_required().track(customer, limit, quantity, idempotency_key)

    def usage_of_limits(self, customer: str) -> list[LimitUsage]:
        """Every limit with the customer's usage of it under the plan in force."""
        return self._entitlements_required().usage_of_limits(customer)

    def over_limit(self, customer: str) -> list[LimitUsage]:
        """The limits whose usage is above the plan's cap (after a downgrade: what exists
        stays, nothing new is counted until back under)."""
        return self._entitlements_required().over_limit(customer)

    def quota(self, customer: str, name: str) -> CountOrUnlimited:
        """A number of the plan in force (``max_file_mb``), or ``UNLIMITED``."""
        return self._entitlements_required().quota(customer, name)

    def set_member_spend_cap(
        self, workspace: str, user: str, amount: Quantity | str | None, *, unit: str = "credits"
    ) -> None:
        """Caps what a member may spend of the workspace's ``unit`` per month of its
        subscription (``None``: no cap). Charges that name the member (``member=``) over it
        are refused with ``MemberSpendCapReached``."""
        self._entitlements_required().set_member_spend_cap(workspace, user, amount, unit)

    def add_member(self, workspace: str, user: str, role: str) -> Decision:
        """Adds a user to a workspace as ``owner`` (the first member), ``admin``, ``editor`` or
        ``viewer``, counted against the ``team_members`` limit (the owner counts); for a member
        already, changes the role. Ownership moves only with ``transfer_ownership``."""
        return self._entitlements_required().add_member(workspace, user, role)

    def remove_member(self, workspace: str, user: str) -> bool:
        """True when the user was a member. The owner goes last: transfer ownership first."""
        return self._entitlements_required().remove_member(workspace, user)

    def members(self, workspace: str) -> list[Member]:
        """The owner first, then admins, editors, viewers."""
        return self._entitlements_required().members(workspace)

    def memberships(self, user: str, *, limit: int = 100) -> list[Member]:
        """The workspaces the user is a member of, with its role in each, in the order it
        joined them; at most ``limit`` (up to 1,000)."""
        return self._entitlements_required().memberships(user, limit)

    def transfer_ownership(self, workspace: str, new_owner: str) -> list[Member]:
        """Makes a member the owner; the previous owner becomes an admin."""
        return self._entitlements_required().transfer_ownership(workspace, new_owner)

    def hit_rate_limit(self, customer: str) -> RateDecision:
        """Counts one request against the plan's ``rate_limit_per_minute`` (shared by every
        process on the database); refused past it, with ``retry_after_seconds``."""
        return self._entitlements_required().hit_rate_limit(customer)

    def _entitlements_required(self) -> EntitlementService:
        self._catalog_required()
        return present(self._entitlements, "a kit with a catalog has its entitlements service")

    # -- payments (need a catalog; see docs/payments.md) --

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

    def _payments_required(self) -> PaymentService:
        self._catalog_required()
        return present(self._payments, "a kit with a catalog has its payments service")

    def expire(self) -> SweepReport:
        """Deprecated: ``tick``, under the name it had too. It runs the same due work (of which
        expiries are a part); it warns, and goes in a later release."""
        warnings.warn("CreditKit.expire() is deprecated: call tick()", DeprecationWarning, 2)
        return self.tick()

    # -- events, webhooks and alerts (see docs/notify.md) --

    def events(
        self,
        after_id: int = 0,
        limit: int = 100,
        *,
        customer: str | None = None,
        type: str | EventType | None = None,
    ) -> list[Event]:
        """Outbound events with an id above ``after_id``, oldest first, at most ``limit`` (up to
        500); only the ``customer``'s, or of one ``type``, when given. Page on with the last
        event's ``id``. Raises ``UnknownCustomer``, or ``InvalidRequest`` for a bad field."""
        return self._webhooks.events(after_id, limit, customer, type)

    def register_webhook_endpoint(
        self,
        url: str,
        *,
        idempotency_key: str,
        event_types: Sequence[str | EventType] | None = None,
    ) -> RegisteredWebhookEndpoint:
        """Registers an http(s) ``url`` to receive events (only ``event_types``, when given),
        enabled. The answer holds the signing ``secret``: show it to the user now, nothing else
        returns it (a replay of the ``idempotency_key`` excepted). At most 100 endpoints."""
        return self._webhooks.register(url, event_types, idempotency_key)

    def rotate_webhook_secret(
        self, endpoint_id: int, *, idempotency_key: str
    ) -> RegisteredWebhookEndpoint:
        """Gives the endpoint a new signing ``secret`` (in the answer only). Deliveries are
        signed with the old one too for 24 hours (``endpoint.previous_secret_expires_at``), so
        the receiver can switch without refusing any. Raises ``WebhookEndpointNotFound``."""
        return self._webhooks.rotate_secret(endpoint_id, idempotency_key)

    def webhook_endpoints(self) -> list[WebhookEndpoint]:
        """Every endpoint not deleted, oldest first (without secrets)."""
        return self._webhooks.endpoints()

    def webhook_endpoint(self, endpoint_id: int) -> WebhookEndpoint:
        """Raises ``WebhookEndpointNotFound`` for an unknown or deleted id."""
        return self._webhooks.endpoint(endpoint_id)

    def disable_webhook_endpoint(self, endpoint_id: int) -> WebhookEndpoint:
        """Stops deliveries to the endpoint: it is owed nothing of the events meanwhile, and
        what it was owed before waits until it is enabled again."""
        return self._webhooks.set_enabled(endpoint_id, False)

    def enable_webhook_endpoint(self, endpoint_id: int) -> WebhookEndpoint:
        return self._webhooks.set_enabled(endpoint_id, True)

    def delete_webhook_endpoint(self, endpoint_id: int) -> None:
        """Deletes the endpoint; what it was still owed is marked failed."""
        self._webhooks.delete(endpoint_id)

    def webhook_deliveries(
        self,
        *,
        after_id: int = 0,
        limit: int = 100,
        endpoint_id: int | None = None,
        status: str | None = None,
    ) -> list[Delivery]:
        """Deliveries (one per event and endpoint) with an id above ``after_id``, oldest first,
        at most ``limit`` (up to 500); of one endpoint, or one status (``pending``,
        ``delivered``, ``failed``), when given."""
        return self._webhooks.deliveries(after_id, limit, endpoint_id, status)

    def set_alerts(
        self,
        customer: str,
        *,
        unit: str = "credits",
        credits_left: Quantity | str | None = None,
        percent_used: Sequence[int] = (),
    ) -> Alerts:
        """Sets the customer's own alert thresholds for ``unit``, in place of its plan's:
        ``credits.low`` at ``credits_left`` or fewer, ``alert.triggered`` as each of
        ``percent_used`` (increasing, 1 to 100) percent of the period's allowance is used.
        Neither: no alerts for the customer. Returns the thresholds in force."""
        return self._alerts.set_alerts(customer, unit, credits_left, percent_used)

    def clear_alerts(self, customer: str, *, unit: str = "credits") -> Alerts:
        """Drops the customer's own thresholds for ``unit``: its plan's apply again."""
        return self._alerts.clear_alerts(customer, unit)

    def alerts(self, customer: str, *, unit: str = "credits") -> Alerts:
        """The alert thresholds in force for the customer and ``unit``, and their source."""
        return self._alerts.alerts(customer, unit)

    def alert_crossed(self, charge: Charge) -> bool | None:
        """Whether ``charge`` took its customer's credits across an alert threshold in force
        (``AlertService.crossed``): from what its grants paid plus what was left, down to
        what was left. None on a retry's answer: the first answer said it."""
        if charge.available_after is None or charge.replayed:
            return None
        paid = sum((draw.amount for draw in charge.draws), start=0)
        before = charge.available_after + paid
        return self._alerts.crossed(charge.customer, charge.unit, before, charge.available_after)

    def worker(
        self, *, http_client: httpx.Client | None = None, rng: random.Random | None = None
    ) -> Worker:
        """The background worker of this kit (``creditkit worker`` runs it): ``run_once()``
        does one round of due work and webhook delivery."""
        return Worker(
            self._worker_tick,
            self._alerts,
            self._webhooks,
            collections=None if self._payments is None else self._collect_due_payments,
            http_client=http_client,
            rng=rng,
        )

    def _worker_tick(self) -> SweepReport:
        """The worker's sweep: every due customer each round, a bounded share of each backlog
        (``WORKER_TRANSACTIONS_PER_CUSTOMER_MAX`` transactions), the rest in the next rounds."""
        return self._ledger.tick(transactions_per_customer_max=WORKER_TRANSACTIONS_PER_CUSTOMER_MAX)

    def _collect_due_payments(self) -> ChargeRunReport:
        renewals = self.run_due_renewals()
        top_ups = self.run_due_top_ups()
        # Plans creditkit ended by itself (grace period over, refunded) end at the provider.
        self._payments_required().end_ended_subscriptions()
        return ChargeRunReport(
            attempted=renewals.attempted + top_ups.attempted,
            succeeded=renewals.succeeded + top_ups.succeeded,
            failed=renewals.failed + top_ups.failed,
        )

    # -- reads --

    def balance(
        self,
        customer: str,
        *,
        unit: str = "credits",
        action: str | None = None,
        spender: str | None = None,
    ) -> Balance:
        """What the customer may spend of ``unit`` now, and what it owes (``.debt``). With
        ``action``: only credits that may pay for it; with ``spender``: capped by what the
        budgets on its path leave (``.budget_left``)."""
        return self._ledger.balance(customer, unit, action, spender)

    # -- spenders, budgets, debt --

    def create_spender(
        self, customer: str, spender: str, *, kind: str, parent: str | None = None
    ) -> Spender:
        """Adds a spender (a member, an API key, an agent, a project: ``kind`` is the host
        app's word) under the customer, or under ``parent``, at most 8 levels deep. The
        spender's id is its own idempotency key. A workspace member is one already, of kind
        ``member``."""
        return self._ledger.create_spender(customer, spender, kind=kind, parent=parent)

    def spenders(self, customer: str, *, limit: int = 1_000) -> tuple[Spender, ...]:
        """The customer's spenders, oldest first."""
        return self._ledger.spenders(customer, limit)

    def set_budget(
        self,
        customer: str,
        amount: Quantity | str | None,
        *,
        idempotency_key: str,
        spender: str | None = None,
        unit: str | None = None,
        period: str = "month",
    ) -> Budget | None:
        """Caps what ``spender`` (None: the customer itself) may spend of ``unit`` per
        ``period`` (``hour``, ``day``, ``week``, ``month`` or ``lifetime``; UTC boundaries,
        weeks from Monday). A spend must fit every budget from its spender up to the customer,
        else ``BudgetExceeded``. ``amount`` None removes the budget."""
        return self._ledger.set_budget(
            customer, amount, spender=spender, unit=unit or "credits", period=period,
            idempotency_key=idempotency_key,
        )  # fmt: skip

    def budgets(
        self, customer: str, *, spender: str | None = None, unit: str = "credits"
    ) -> tuple[Budget, ...]:
        """The budgets of ``spender`` (None: the customer's own), the plan's defaults for its
        kind included, each with what its current period used (open holds included)."""
        return self._ledger.budgets(customer, spender, unit)

    def set_debt_limit(
        self,
        customer: str,
        amount: Quantity | str,
        *,
        idempotency_key: str,
        unit: str | None = None,
    ) -> DebtLimit:
        """How far below zero the customer may go when a spend asks for it (``allow_debt``);
        overrides the plan's ``debt_limit`` (default 0: no debt)."""
        return self._ledger.set_debt_limit(
            customer, amount, unit=unit or "credits", idempotency_key=idempotency_key
        )

    def recorded(self, idempotency_key: str) -> bool:
        """Whether a write under this key has been recorded, applied or refused: a retry of it
        would replay, not write."""
        return self._ledger.recorded(idempotency_key)

    def hold(self, hold_id: int) -> Hold:
        return self._ledger.hold(hold_id)

    def holds(self, customer: str, *, status: str = "active", limit: int = 50) -> tuple[Hold, ...]:
        """The customer's holds in ``status`` (``active``, ``committed``, ``released`` or
        ``expired``), newest first, at most ``limit`` (up to 500). Holds past their timeout are
        expired first, so an active hold listed is one."""
        return self._ledger.holds(customer, status, limit)

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
        """The customer's transactions, newest first; pass ``next_cursor`` for older ones.

        Only transactions of ``kinds`` (``TransactionKind`` values, e.g. ``["transfer"]``), of
        ``action``, created in [``start``, ``end``) when given; a cursor stays valid with other
        filters (it marks a place in the history, not a result set). A transfer's item names
        the other customer in ``counterparty``; ``available_change`` is negative for the sender
        and positive for the recipient. Raises ``InvalidRequest`` naming ``kinds``, ``action``,
        ``start``, ``end``, ``limit`` or ``cursor``. ``spender``: only its transactions;
        ``subtree``: and those of every spender under it (up to 1,000 spenders)."""
        filters = check_history_filters(kinds, action, start, end)
        return self._ledger.history(customer, unit, limit, cursor, filters, spender, subtree)

    def group_commit_stats(self) -> GroupCommitStats | None:
        """How well this process's writes shared transactions (group commit): transactions
        committed, the operations they held, the most in one. None with ``group_commit=False``."""
        return self._ledger.group_commit_stats()

    def audit(self) -> AuditReport:
        """Checks every rule of the double entry against the rows; ``.ok`` or ``.problems``."""
        with self._database.read() as connection:
            return audit(connection)

    # -- usage (the numbers behind usage dashboards; see docs/usage.md) --

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
        ``period`` = (start, end), end excluded; by default the subscription's current
        allowance period (its billing period for a plan without an allowance; the calendar
        month in UTC without a subscription). With the balance now (available, held) from the
        same snapshot. With ``spender``, spent, charges and overage are that spender's
        (``subtree``: and every spender's under it, up to 1,000); the rest is the customer's.
        Raises ``InvalidRequest`` (field ``period``) for a bad range, ``spender`` for one the
        customer does not have."""
        return self._usage.summary(customer, unit, period, spender, subtree)

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
        """What was spent in [start, end) per ``by`` = ``"action"``, ``"category"`` (the catalog
        category of the action), ``"member"`` (of a workspace), ``"spender"`` (who spent; each
        group with the spender's ``kind``) or ``"dimension"`` (the value of the charge's
        ``metadata[dimension]``, e.g. ``dimension="agent"``; a commit counts with its hold's
        when its own metadata lacks it), with counts: the ``limit`` (at most 500) largest
        groups, the rest totalled in ``others_spent``/``others_charges``. With ``spender``, only
        that spender's spending (``subtree``: and every spender's under it, up to 1,000).
        Raises ``InvalidRequest`` naming ``by``, ``dimension`` (required with
        ``by="dimension"``, refused otherwise; 1 to 64 letters, digits or underscores),
        ``start``, ``end``, ``limit``, ``spender`` or ``subtree``."""
        return self._usage.breakdown(
            customer, by, start, end, unit, limit, dimension, spender, subtree
        )

    def usage_by_model(
        self, customer: str, *, start: datetime, end: datetime, unit: str = "credits"
    ) -> ModelUsage:
        """Tokens, the model's cost in USD and the credits spent per model in [start, end),
        over the charges and commits priced from model usage; costliest model first, each
        with the spender that spent most on it."""
        return self._model_usage.by_model(customer, start, end, unit)

    def usage_series(
        self,
        customer: str,
        *,
        start: datetime,
        end: datetime,
        unit: str = "credits",
        granularity: str = "day",
    ) -> UsageSeries:
        """What was spent in [start, end) per UTC ``"day"`` (or ``"hour"``), every one present
        (zero when nothing was spent), at most 366 points. Raises ``InvalidRequest`` naming
        ``start``, ``end`` or ``granularity``."""
        return self._usage.series(customer, start, end, unit, granularity)

    def ingest(self, events: Sequence[Mapping[str, Any]]) -> list[Charge | CreditKitError]:
        """Charges up to 10,000 usage events (as many as ``charge_many``) in one database
        transaction, each priced by the catalog: ``{"customer", "action", "quantity" (default
        1), "idempotency_key", "metadata" (optional), "member" (optional)}``. Returns one
        outcome per event, in order: its ``Charge``, or the error it met (``InvalidRequest``
        naming ``events[i].action`` for an action not in the catalog, ``InsufficientCredits``,
        ...); one refusal fails nothing else. A replayed key returns its first outcome."""
        return self._usage.ingest(events)

    def ingest_refusals(self, events: Sequence[Mapping[str, Any]]) -> dict[int, CreditKitError]:
        """Charges as ``ingest`` does (one transaction, the same refusals) and returns only the
        events that were not charged, by position, with their errors: for a caller that needs
        no ``Charge`` (the events stream's worker), which ``ingest`` builds one by one."""
        return self._usage.ingest_refusals(events)

    def ingest_lag(self) -> IngestLag:
        """The events stream's ingest workers' lag. An embedded kit has no stream (its
        ``ingest`` charges at once, so nothing lags): raises ``EventsNotConfigured``, as a
        server run without ``--events`` answers 404. Read it from a server with ``--events``
        (``Client.ingest_lag``) or with ``creditkit ingest-worker --lag``."""
        raise EventsNotConfigured()

    def parked_events(self, *, limit: int = 100, before_id: int | None = None) -> ParkedEventsPage:
        """The usage events the ingest workers parked (could not charge) in this kit's
        database, newest first, ``limit`` (1 to 500) of them, below ``before_id`` when given
        (a page's ``next_before_id``); each was announced by an ``event.refused`` event."""
        if not 1 <= limit <= PARKED_PAGE_MAX:
            raise InvalidRequest("limit", f"must be 1 to {PARKED_PAGE_MAX}")
        if before_id is not None and not 1 <= before_id <= 2**63 - 1:
            raise InvalidRequest("before_id", "must be a parked event's id (1 or more)")
        page = parked_page(self.database, limit, before_id)
        items = tuple(
            ParkedEventItem(
                id=record.id,
                idempotency_key=record.event.idempotency_key,
                customer=record.event.customer,
                reason=record.event.reason,
                detail=record.event.detail,
                parked_at=record.parked_at,
                action=action
                if isinstance(action := record.event.event.get("action"), str)
                else None,
                event_json=json.dumps(record.event.event, separators=(",", ":"), sort_keys=True),
            )
            for record in page.items
        )
        return ParkedEventsPage(items, page.next_before_id)

    # -- the operator's reads (for its console; see docs/analytics.md) --

    def analytics(self, *, start: datetime, end: datetime, unit: str = "credits") -> Analytics:
        """The operator's figures, all customers together: MRR and ARR, subscribers by plan and
        free-to-paid conversion as of now; revenue by plan and by pack, overage billed,
        credits consumed (by action) and expired over [start, end) (at most 366 days); the
        credit liability of ``unit`` now; and the margin against the unit's catalog ``cost``.
        Money is by currency, exact. Does every customer's due work first, as ``tick``.
        Raises ``InvalidRequest`` naming ``start`` or ``end``."""
        self._catalog_required()
        return self._analytics.analytics(start, end, unit)

    def customers(
        self,
        *,
        search: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
        unit: str = "credits",
    ) -> CustomerPage:
        """Customers whose id contains ``search`` (any case; ``%`` and ``_`` match themselves),
        newest first, ``limit`` (1 to 200) a page: each with its kind, creation time, plan and
        available credits of ``unit``. Pass ``next_cursor`` for older ones. Raises
        ``InvalidRequest`` naming ``search``, ``limit`` or ``cursor``."""
        return self._analytics.customers(search, limit, cursor, unit)
