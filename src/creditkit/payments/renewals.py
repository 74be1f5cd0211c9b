"""Renewals and their grace period: the renewal payment a new billing period owes (creditkit
charges it off-session where the provider does not bill subscriptions; Stripe's invoices pay
it where it does), and the fall back to the default plan when a failed renewal's grace period
ends.

``RenewalCollector`` is payments' side of subscriptions' ``Collector`` port: subscriptions
renews and asks it to collect; it records the renewal payment that ``run_due_renewals``
charges."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from creditkit.catalog import Catalog
from creditkit.derived_keys import renewal_key
from creditkit.payments import pricing, repository
from creditkit.payments.context import Item, PaymentContext, payment_values
from creditkit.payments.providers import PaymentProvider
from creditkit.payments.receipts import issue_receipt
from creditkit.payments.schemas import PaymentKind, PaymentStatus, ReceiptKind, ReceiptLine
from creditkit.store.tables import to_epoch_microseconds
from creditkit.store.unit_of_work import CustomerRow, UnitOfWork
from creditkit.subscriptions.schemas import PaidPeriod, SubscriptionStatus


class RenewalCollector:
    """Subscriptions' ``Collector``, by ``provider``: its name and whether it bills
    subscriptions itself are all this reads of it (the same before and after the kit binds the
    sandbox to its database)."""

    def __init__(self, provider: PaymentProvider, catalog: Catalog) -> None:
        self._provider = provider
        self._catalog = catalog

    def collects_by_invoice(self, context: UnitOfWork, holder: CustomerRow) -> bool:
        """Whether the provider bills subscriptions and holds a live one of the customer (a
        plan's checkout made it; its end clears it): then its invoices collect the renewals."""
        if not self._provider.bills_subscriptions:
            return False
        account = repository.account(context.connection, holder.id, self._provider.name)
        return account is not None and account.provider_subscription_id is not None

    def collect(self, context: UnitOfWork, holder: CustomerRow, period: PaidPeriod) -> None:
        """A billing period after the first of a run a checkout started owes a renewal
        payment, recorded pending here and charged off-session by ``run_due_renewals``. A run
        not bought through a checkout is the app's to collect (its billing lines); a provider
        that bills subscriptions collects through its invoices."""
        if self._provider.bills_subscriptions or period.start == period.anchor_at:
            return
        connection, now = context.connection, context.now
        started = repository.latest_plan_payment(connection, holder.id)
        if started is None or started.succeeded_at != period.anchor_at:
            return  # this run of periods was not bought through a checkout
        key = renewal_key(period.subscription_id, to_epoch_microseconds(period.start))
        if repository.payment_by_key(connection, key) is None:
            insert_renewal(
                connection, self._provider.name, self._catalog, holder, period, key, now,
                next_attempt_at=now,
            )  # fmt: skip


def insert_renewal(
    connection: Connection,
    provider_name: str,
    catalog: Catalog,
    holder: CustomerRow,
    paid: PaidPeriod,
    key: str,
    now: datetime,
    *,
    next_attempt_at: datetime | None = None,
    period: tuple[datetime, datetime] | None = None,
) -> Any:
    """The renewal payment of ``paid`` (for ``period``, a provider's invoice's, when given),
    recorded pending under ``key``; returns its row."""
    start, end = (paid.start, paid.end) if period is None else period
    tier = catalog.plans.get(paid.plan)
    name = paid.plan if tier is None else tier.name
    item = Item(
        PaymentKind.RENEWAL, None, paid.plan, paid.interval,
        f"{name}, {paid.interval.value}ly, {start:%Y-%m-%d} to {end:%Y-%m-%d}", paid.price,
    )  # fmt: skip
    priced = pricing.price(item.description, item.price, None, None)
    values = payment_values(
        provider_name, holder, item, priced, key, now, period_start=start,
        next_attempt_at=next_attempt_at,
    )  # fmt: skip
    return repository.read_payment(connection, repository.insert_payment(connection, values))


class Renewals:
    def __init__(self, context: PaymentContext) -> None:
        self._ledger = context.ledger
        self._catalog = context.catalog
        self._subscriptions = context.subscriptions
        self._provider = context.provider

    def due_work(self, context: UnitOfWork, holder: CustomerRow) -> datetime | None:
        """The ledger's due hook, after the subscription's: receipts for new overage
        statements, and grace periods that ended. Returns the end of the next grace period."""
        connection, now = context.connection, context.now
        for line in repository.overage_lines_without_receipt(connection, holder.id):
            issue_receipt(
                connection, holder, f"overage:{line.id}", ReceiptKind.OVERAGE,
                [ReceiptLine(line.description, line.amount_minor)], line.amount_minor, 0,
                line.currency, None, line.id, now,
            )  # fmt: skip
        return self._end_graces(connection, holder, now)

    def renewal(
        self,
        connection: Connection,
        holder: CustomerRow,
        key: str,
        now: datetime,
        next_attempt_at: datetime | None = None,
        period: tuple[datetime, datetime] | None = None,
    ) -> Any:
        """The renewal payment under ``key``, recorded pending if it is not yet: for
        ``period`` (a provider's invoice's), or else the billing period in force; None when no
        paid period is in force."""
        existing = repository.payment_by_key(connection, key)
        if existing is not None:
            return existing
        paid = self._subscriptions.paid_period(connection, holder)
        if paid is None:
            return None
        return insert_renewal(
            connection, self._provider.name, self._catalog, holder, paid, key, now,
            next_attempt_at=next_attempt_at, period=period,
        )  # fmt: skip

    def _end_graces(
        self, connection: Connection, holder: CustomerRow, now: datetime
    ) -> datetime | None:
        """Falls back to the default plan when a failed renewal's grace period has ended."""
        upcoming: list[datetime] = []
        for row in repository.renewals_in_grace(connection, holder.id):
            if row.grace_ends_at > now:
                upcoming.append(row.grace_ends_at)
                continue
            period = self._subscriptions.paid_period(connection, holder)
            if period is not None and period.status is SubscriptionStatus.PAST_DUE:
                self._subscriptions.fall_back(connection, holder, now)
            values = {"grace_ends_at": None, "next_attempt_at": None, "updated_at": now}
            repository.update_payment(connection, row.id, PaymentStatus.FAILED.value, values)
        return min(upcoming) if upcoming else None
