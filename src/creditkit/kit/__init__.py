"""``CreditKit``: the engine, embedded in your process.

This module assembles it: the parts (ledger, services, hooks) ``__init__`` builds and hands
each other, and the kit's lifecycle and worker. Its public methods live with their domain, one
module each: ``credits`` (customers, grants, charges, transfers), ``holds`` (holds, meters,
leases, quotes), ``corrections``, ``spenders``, ``history`` (the ledger's reads),
``subscriptions``, ``entitlements``, ``payments``, ``notify``, ``usage`` and ``analytics``. Each
is a class over ``KitParts`` (parts.py) alone, that ``CreditKit`` inherits; they share no
method and call none of each other's. The interface they make up together is declared once,
with the client's, as ``creditkit.client.CreditsApi``.
"""

from __future__ import annotations

import functools
import os
import random
from collections.abc import Mapping
from datetime import datetime, timedelta

import httpx
import sqlalchemy as sa

from creditkit.analytics.service import AnalyticsService
from creditkit.catalog import Catalog, load_catalog
from creditkit.clock import Clock, checked_clock, system_clock
from creditkit.entitlements.service import EntitlementService
from creditkit.keys.secrets import ServiceSecrets
from creditkit.keys.service import KeyService
from creditkit.kit.analytics import KitAnalytics
from creditkit.kit.corrections import KitCorrections
from creditkit.kit.credits import KitCredits
from creditkit.kit.entitlements import KitEntitlements
from creditkit.kit.history import KitHistory
from creditkit.kit.holds import KitHolds
from creditkit.kit.notify import KitNotify
from creditkit.kit.payments import KitPayments
from creditkit.kit.spenders import KitSpenders
from creditkit.kit.subscriptions import KitSubscriptions
from creditkit.kit.usage import KitUsage
from creditkit.ledger.kernel import DueHook, LedgerHooks, SpendHook
from creditkit.ledger.late_usage import LATE_USAGE_WINDOW_DEFAULT, check_late_usage_window
from creditkit.ledger.reversals import REVERSAL_WINDOW_DEFAULT, check_reversal_window
from creditkit.ledger.schemas import SweepReport, Unit
from creditkit.ledger.service import LedgerService
from creditkit.ledger.timeline import WORKER_TRANSACTIONS_PER_CUSTOMER_MAX
from creditkit.notify.alerts import AlertService
from creditkit.notify.outbound import OutboundPolicy
from creditkit.notify.sealing import Sealer
from creditkit.notify.webhooks import WebhookService
from creditkit.notify.worker import Worker
from creditkit.payments.renewals import RenewalCollector
from creditkit.payments.schemas import ChargeRunReport
from creditkit.payments.service import PaymentService, PaymentSettings
from creditkit.pricing.service import PricingService
from creditkit.store.database import Database
from creditkit.store.migrate import upgrade_to_head
from creditkit.subscriptions.service import SubscriptionService
from creditkit.usage.models import ModelUsageService
from creditkit.usage.rollups import UsageRollups
from creditkit.usage.service import UsageService

DEFAULT_UNITS: Mapping[str, int] = {"credits": 0}


class CreditKit(
    KitCredits,
    KitHolds,
    KitCorrections,
    KitSpenders,
    KitHistory,
    KitSubscriptions,
    KitEntitlements,
    KitPayments,
    KitNotify,
    KitUsage,
    KitAnalytics,
):
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
        self.catalog = catalog
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
