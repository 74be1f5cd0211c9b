"""``CreditsApi``: what ``CreditKit`` (embedded) and ``Client`` (over HTTP) both offer, with the
kit's signatures. An app typed against it runs on either, and mypy checks that both satisfy it
(tests/client/test_client_alone.py). The client's writes take ``idempotency_key`` as optional (a new
key per call, reused by its retries), which still satisfies the kit's required one.

Methods only one of them has are listed, with why, in tests/client/test_client_alone.py."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from creditkit.catalog import CountOrUnlimited
from creditkit.entitlements.schemas import Decision, LimitUsage, Member
from creditkit.errors import CreditKitError, Quantity
from creditkit.events.schemas import IngestLag, ParkedEventsPage
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
from creditkit.metering.metered import Meter
from creditkit.metering.metered_tokens import TokenMeter
from creditkit.notify.schemas import (
    Alerts,
    Delivery,
    Event,
    EventType,
    RegisteredWebhookEndpoint,
    WebhookEndpoint,
)
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
from creditkit.subscriptions.schemas import BillingLine, Subscription
from creditkit.usage.schemas import (
    EventAccepted,
    ModelUsage,
    UsageBreakdown,
    UsageSeries,
    UsageSummary,
)


class CreditsApi(Protocol):
    """Credits, subscriptions, entitlements, usage, payments and notifications of one service."""

    def acquire(self, customer: str, limit: str, resource_id: str) -> Decision: ...
    def add_member(self, workspace: str, user: str, role: str) -> Decision: ...
    def alerts(self, customer: str, *, unit: str = ...) -> Alerts: ...
    def auto_top_up(self, customer: str) -> TopUpSettings | None: ...
    def balance(
        self,
        customer: str,
        *,
        unit: str = ...,
        action: str | None = ...,
        spender: str | None = ...,
    ) -> Balance: ...
    def budgets(
        self, customer: str, *, spender: str | None = ..., unit: str = ...
    ) -> tuple[Budget, ...]: ...
    def billing_lines(self, customer: str, *, limit: int = ...) -> tuple[BillingLine, ...]: ...
    def cancel(self, customer: str, *, at_period_end: bool = ...) -> Subscription: ...
    def reset_period(self, customer: str, *, reason: str, idempotency_key: str) -> Subscription: ...
    def change_plan(
        self,
        customer: str,
        plan: str,
        *,
        interval: str | None = ...,
        allowance_on_upgrade: str = ...,
    ) -> Subscription: ...
    def change_grant_expiry(
        self,
        grant_id: int,
        expires_at: datetime | None,
        *,
        reason: str,
        idempotency_key: str,
    ) -> Grant: ...
    def charge(
        self,
        customer: str,
        amount: Quantity | str | None = ...,
        *,
        idempotency_key: str,
        unit: str | None = ...,
        action: str | None = ...,
        quantity: int = ...,
        metadata: dict[str, Any] | None = ...,
        member: str | None = ...,
        spender: str | None = ...,
        allow_debt: bool = ...,
        usage: object | None = ...,
        occurred_at: datetime | None = ...,
    ) -> Charge: ...
    def checkout(
        self,
        customer: str,
        *,
        pack: str | None = ...,
        plan: str | None = ...,
        interval: str = ...,
        coupon: str | None = ...,
        success_url: str,
        cancel_url: str,
        idempotency_key: str,
    ) -> CheckoutSession: ...
    def clear_alerts(self, customer: str, *, unit: str = ...) -> Alerts: ...
    def commit(
        self,
        hold_id: int,
        amount: Quantity | str | None = ...,
        *,
        idempotency_key: str,
        final: bool = ...,
        metadata: dict[str, Any] | None = ...,
        allow_debt: bool = ...,
        usage: object | None = ...,
    ) -> Charge: ...
    def complete_sandbox_checkout(self, session_id: str, *, card: str = ...) -> WebhookOutcome: ...
    def create_customer(
        self,
        customer: str,
        kind: str = ...,
        *,
        subscribe: bool = ...,
        metadata: dict[str, Any] | None = ...,
        time_zone: str | None = ...,
    ) -> Customer: ...
    def create_spender(
        self, customer: str, spender: str, *, kind: str, parent: str | None = ...
    ) -> Spender: ...
    def customer(self, customer: str) -> Customer: ...
    def delete_webhook_endpoint(self, endpoint_id: int) -> None: ...
    def disable_auto_top_up(self, customer: str) -> bool: ...
    def disable_webhook_endpoint(self, endpoint_id: int) -> WebhookEndpoint: ...
    def enable_webhook_endpoint(self, endpoint_id: int) -> WebhookEndpoint: ...
    def entitled(self, customer: str, feature: str) -> Decision: ...
    def extend(
        self,
        hold_id: int,
        amount: Quantity | str | None = ...,
        timeout_seconds: int | None = ...,
        *,
        idempotency_key: str,
    ) -> Hold: ...
    def events(
        self,
        after_id: int = ...,
        limit: int = ...,
        *,
        customer: str | None = ...,
        type: str | EventType | None = ...,
    ) -> list[Event]: ...
    def grant(
        self,
        customer: str,
        amount: Quantity | str,
        *,
        idempotency_key: str,
        unit: str = ...,
        source: str = ...,
        priority: int | None = ...,
        effective_at: datetime | None = ...,
        expires_at: datetime | None = ...,
        transferable: bool | None = ...,
        cost_basis: Money | None = ...,
        metadata: dict[str, Any] | None = ...,
        applies_to: Sequence[str] | None = ...,
    ) -> Grant: ...
    def grant_pack(self, customer: str, pack: str, *, idempotency_key: str) -> Grant: ...
    def history(
        self,
        customer: str,
        *,
        unit: str = ...,
        limit: int = ...,
        cursor: str | None = ...,
        kinds: Sequence[str] | None = ...,
        action: str | None = ...,
        start: datetime | None = ...,
        end: datetime | None = ...,
        spender: str | None = ...,
        subtree: bool = ...,
    ) -> HistoryPage: ...
    def hold(self, hold_id: int) -> Hold: ...
    # A Sequence: the kit's answers are charges and errors; a server with an events stream
    # answers EventAccepted too.
    def ingest(
        self, events: Sequence[Mapping[str, Any]]
    ) -> Sequence[Charge | EventAccepted | CreditKitError]: ...
    def ingest_lag(self) -> IngestLag: ...
    def parked_events(
        self, *, limit: int = ..., before_id: int | None = ...
    ) -> ParkedEventsPage: ...
    def members(self, workspace: str) -> list[Member]: ...
    def lease(
        self,
        customer: str,
        amount: Quantity | str,
        *,
        idempotency_key: str,
        unit: str = ...,
        timeout_seconds: int = ...,
        batch: Quantity | str | None = ...,
        extend_by: Quantity | str | None = ...,
        action: str | None = ...,
        parent: int | None = ...,
        spender: str | None = ...,
    ) -> Lease: ...
    def metered(
        self,
        customer: str,
        action: str,
        estimate: Quantity | str | None = ...,
        *,
        idempotency_key: str | None = ...,
        unit: str | None = ...,
        timeout_seconds: int = ...,
        metadata: dict[str, Any] | None = ...,
        spender: str | None = ...,
    ) -> Meter: ...
    def metered_tokens(
        self,
        customer: str,
        action: str,
        usage: object,
        *,
        idempotency_key: str | None = ...,
        extend_tokens: int | None = ...,
        allow_debt: bool = ...,
        timeout_seconds: int = ...,
        metadata: dict[str, Any] | None = ...,
        spender: str | None = ...,
    ) -> TokenMeter: ...
    def payment(self, payment_id: int) -> Payment: ...
    def quota(self, customer: str, name: str) -> CountOrUnlimited: ...
    def quote(self, action: str, usage: object, *, at: datetime | None = ...) -> Quote: ...
    def receipt(self, receipt_id: int) -> Receipt: ...
    def receipts(
        self, customer: str, *, limit: int = ..., cursor: str | None = ...
    ) -> ReceiptPage: ...
    def refund(self, payment_id: int) -> Refund: ...
    def register_webhook_endpoint(
        self, url: str, *, idempotency_key: str, event_types: Sequence[str | EventType] | None = ...
    ) -> RegisteredWebhookEndpoint: ...
    def release(self, hold_id: int, *, idempotency_key: str) -> Hold: ...
    def release_resource(self, customer: str, limit: str, resource_id: str) -> bool: ...
    def remove_member(self, workspace: str, user: str) -> bool: ...
    def reserve(
        self,
        customer: str,
        amount: Quantity | str,
        *,
        idempotency_key: str,
        unit: str = ...,
        timeout_seconds: int = ...,
        action: str | None = ...,
        metadata: dict[str, Any] | None = ...,
        spender: str | None = ...,
        parent: int | None = ...,
    ) -> Hold: ...
    def rotate_webhook_secret(
        self, endpoint_id: int, *, idempotency_key: str
    ) -> RegisteredWebhookEndpoint: ...
    def save_payment_method(self, customer: str, payment_method: str) -> None: ...
    def set_alerts(
        self,
        customer: str,
        *,
        unit: str = ...,
        credits_left: Quantity | str | None = ...,
        percent_used: Sequence[int] = ...,
    ) -> Alerts: ...
    def set_auto_top_up(
        self,
        customer: str,
        pack: str,
        *,
        threshold: Quantity | str,
        per_day_max: int = ...,
        target: Quantity | str | None = ...,
    ) -> TopUpSettings: ...
    def set_budget(
        self,
        customer: str,
        amount: Quantity | str | None,
        *,
        idempotency_key: str,
        spender: str | None = ...,
        unit: str | None = ...,
        period: str = ...,
    ) -> Budget | None: ...
    def set_debt_limit(
        self,
        customer: str,
        amount: Quantity | str,
        *,
        idempotency_key: str,
        unit: str | None = ...,
    ) -> DebtLimit: ...
    def set_time_zone(
        self, customer: str, time_zone: str | None, *, idempotency_key: str
    ) -> Customer: ...
    def set_member_spend_cap(
        self, workspace: str, user: str, amount: Quantity | str | None, *, unit: str = ...
    ) -> None: ...
    def spenders(self, customer: str, *, limit: int = ...) -> tuple[Spender, ...]: ...
    def subscribe(
        self,
        customer: str,
        plan: str,
        *,
        interval: str = ...,
        trial_days: int = ...,
        pay_with: str = ...,
        collected_elsewhere: bool = ...,
    ) -> Subscription: ...
    def subscription(self, customer: str) -> Subscription | None: ...
    def track(
        self, customer: str, limit: str, quantity: int = ..., *, idempotency_key: str
    ) -> Decision: ...
    def transfer(
        self,
        from_customer: str,
        to_customer: str,
        amount: Quantity | str,
        *,
        idempotency_key: str,
        unit: str = ...,
        metadata: dict[str, Any] | None = ...,
    ) -> Transfer: ...
    def transfer_ownership(self, workspace: str, new_owner: str) -> list[Member]: ...
    def usage_breakdown(
        self,
        customer: str,
        *,
        by: str,
        start: datetime,
        end: datetime,
        unit: str = ...,
        limit: int = ...,
        dimension: str | None = ...,
        spender: str | None = ...,
        subtree: bool = ...,
    ) -> UsageBreakdown: ...
    def usage_by_model(
        self, customer: str, *, start: datetime, end: datetime, unit: str = ...
    ) -> ModelUsage: ...
    def usage_of_limits(self, customer: str) -> list[LimitUsage]: ...
    def usage_series(
        self,
        customer: str,
        *,
        start: datetime,
        end: datetime,
        unit: str = ...,
        granularity: str = ...,
    ) -> UsageSeries: ...
    def usage_summary(
        self,
        customer: str,
        *,
        unit: str = ...,
        period: tuple[datetime, datetime] | None = ...,
        spender: str | None = ...,
        subtree: bool = ...,
    ) -> UsageSummary: ...
    def reverse_charge(
        self,
        charge_key: str,
        amount: Quantity | str | None = ...,
        *,
        reason: str,
        idempotency_key: str,
    ) -> Reversal: ...
    def void_grant(
        self,
        grant_id: int,
        amount: Quantity | str | None = ...,
        *,
        reason: str,
        idempotency_key: str,
    ) -> Adjustment: ...
    def webhook_deliveries(
        self,
        *,
        after_id: int = ...,
        limit: int = ...,
        endpoint_id: int | None = ...,
        status: str | None = ...,
    ) -> list[Delivery]: ...
    def webhook_endpoint(self, endpoint_id: int) -> WebhookEndpoint: ...
    def webhook_endpoints(self) -> list[WebhookEndpoint]: ...

    def audit(self) -> AuditReport: ...


if TYPE_CHECKING:
    from creditkit.client.client import Client
    from creditkit.kit import CreditKit

    def _both_satisfy(kit: CreditKit, client: Client) -> tuple[CreditsApi, CreditsApi]:
        """Never called: ``mypy src`` checks this assignment, so a method of either that stops
        matching the protocol fails the type check."""
        return kit, client
