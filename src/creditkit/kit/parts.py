"""KitParts: what every group of ``CreditKit``'s methods reaches."""

from __future__ import annotations

from creditkit.analytics.service import AnalyticsService
from creditkit.catalog import Catalog
from creditkit.clock import Clock
from creditkit.entitlements.service import EntitlementService
from creditkit.errors import InvalidRequest, present
from creditkit.ledger.service import LedgerService
from creditkit.notify.alerts import AlertService
from creditkit.notify.webhooks import WebhookService
from creditkit.payments.service import PaymentService
from creditkit.pricing.service import PricingService
from creditkit.store.database import Database
from creditkit.subscriptions.service import SubscriptionService
from creditkit.usage.models import ModelUsageService
from creditkit.usage.service import UsageService


class KitParts:
    """The parts ``CreditKit.__init__`` assembles (declared here, set there), and the checks
    that a part only a catalog brings is there. Each group of the kit's methods (credits,
    holds, subscriptions, ...: one module of this package each) is a class over these parts
    alone: none calls another group's methods, and none overrides another's."""

    catalog: Catalog | None
    _database: Database
    _clock: Clock
    _ledger: LedgerService
    _subscriptions: SubscriptionService | None
    _entitlements: EntitlementService | None
    _alerts: AlertService
    _webhooks: WebhookService
    _payments: PaymentService | None
    _usage: UsageService
    _pricing: PricingService
    _model_usage: ModelUsageService
    _analytics: AnalyticsService

    def _catalog_required(self) -> Catalog:
        if self.catalog is None:
            raise InvalidRequest("catalog", "this needs CreditKit(..., catalog=...)")
        return self.catalog

    def _subscriptions_required(self) -> SubscriptionService:
        self._catalog_required()
        return present(self._subscriptions, "a kit with a catalog has its subscriptions service")

    def _entitlements_required(self) -> EntitlementService:
        self._catalog_required()
        return present(self._entitlements, "a kit with a catalog has its entitlements service")

    def _payments_required(self) -> PaymentService:
        self._catalog_required()
        return present(self._payments, "a kit with a catalog has its payments service")
