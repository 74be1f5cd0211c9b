"""Plan changes of a subscription the provider bills (Stripe Billing), made on both sides.

The provider is changed first, outside any transaction, under an idempotency key derived from
the subscription as it stood (its revision: its id and its latest event's) and the change asked
for, then
creditkit's subscription in its own write. A provider that refuses (a declined proration)
leaves both unchanged; a crash between the two leaves the provider changed, and the same call
again (same row, same key) gets the provider's first answer and makes creditkit's change. The
provider's ``customer.subscription.updated`` webhook applies its state too, so the two agree
whichever lands first.

- an upgrade: the provider's price now, prorated; creditkit's upgrade (its allowance rule);
- a downgrade or a change of interval alone: a subscription schedule moves the provider at
  the period's end; creditkit schedules the same change;
- to the default plan, or ``cancel(at_period_end=True)``: the provider's subscription ends at
  the period's end; a change back to the plan in force resumes it (and drops a schedule);
- ``cancel(at_period_end=False)``: the provider's subscription is cancelled now.

A subscription creditkit moved to the default plan by itself (a renewal's grace period ended, a
plan refunded) is cancelled at the provider by ``end_ended``, run by the worker.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from creditkit.catalog import Interval
from creditkit.derived_keys import provider_cancel_key, provider_change_key, provider_end_key
from creditkit.ledger import repository as ledger_repository
from creditkit.payments import repository
from creditkit.payments.context import PaymentContext
from creditkit.payments.errors import ProviderError
from creditkit.payments.providers import SubscriptionBilling
from creditkit.payments.schemas import ProviderSubscription
from creditkit.payments.stripe_prices import plan_price
from creditkit.store.unit_of_work import CustomerRow, UnitOfWork
from creditkit.subscriptions.schemas import Subscription

#: Subscriptions ``end_ended`` cancels at the provider per run; the next run takes the rest.
ENDED_PER_RUN_MAX = 100


class SubscriptionChanges:
    def __init__(self, context: PaymentContext) -> None:
        self._ledger = context.ledger
        self._database = context.database
        self._catalog = context.catalog
        self._subscriptions = context.subscriptions
        provider = context.provider
        self._provider_name = provider.name
        self._billing = (
            provider
            if provider.bills_subscriptions and isinstance(provider, SubscriptionBilling)
            else None
        )

    def _provider_subscription(self, customer: str) -> str | None:
        if self._billing is None:
            return None
        with self._database.read() as connection:
            holder = ledger_repository.read_customer(connection, customer)
            account = repository.account(connection, holder.id, self._provider_name)
        return None if account is None else account.provider_subscription_id

    def change_plan(
        self, customer: str, plan_id: str, interval: str | None, allowance_on_upgrade: str
    ) -> Subscription:
        subscription_id = self._provider_subscription(customer)
        planned = (
            None
            if subscription_id is None
            else self._subscriptions.planned_change(customer, plan_id, interval)
        )
        if self._billing is not None and subscription_id is not None and planned is not None:
            revision, target_interval, step = planned
            key = provider_change_key(revision, plan_id, target_interval.value)
            price = self._price(plan_id, target_interval)
            if step == "same":
                self._billing.cancel_subscription_at_period_end(subscription_id, False, key)
            elif price is None:
                # A plan the provider does not collect (the default plan): its subscription
                # ends at the period's end, when creditkit's change takes effect.
                self._billing.cancel_subscription_at_period_end(subscription_id, True, key)
            elif step == "upgrade":
                self._billing.change_subscription_now(subscription_id, price, key)
            else:
                self._billing.change_subscription_at_period_end(subscription_id, price, key)
        return self._subscriptions.change_plan(customer, plan_id, interval, allowance_on_upgrade)

    def cancel(self, customer: str, at_period_end: bool) -> Subscription:
        subscription_id = self._provider_subscription(customer)
        if self._billing is None or subscription_id is None:
            return self._subscriptions.cancel(customer, at_period_end)
        planned = self._subscriptions.planned_change(customer, self._catalog.default_plan.id, None)
        if planned is None:
            return self._subscriptions.cancel(customer, at_period_end)  # refused: none to cancel
        key = provider_cancel_key(planned[0], at_period_end)
        if at_period_end:
            self._billing.cancel_subscription_at_period_end(subscription_id, True, key)
            return self._subscriptions.cancel(customer, at_period_end)
        self._billing.cancel_subscription_now(subscription_id, key)

        def work(context: UnitOfWork) -> Subscription:
            holder = context.customers[customer]
            self._forget(context.connection, holder, subscription_id, context.now)
            if self._subscriptions.on_default_plan(context.connection, holder):
                # The provider's ``deleted`` webhook came first and moved it there already.
                return self._subscriptions.view(context.connection, holder)
            return self._subscriptions.cancel_locked(context.connection, holder, False, context.now)

        return self._ledger.locked_write([customer], work)

    def _price(self, plan_id: str, interval: Interval) -> Any:
        with self._database.read() as connection:
            return plan_price(connection, self._catalog, plan_id, interval)

    def _forget(
        self, connection: Connection, holder: CustomerRow, subscription_id: str, now: datetime
    ) -> None:
        """The provider's subscription ended: it collects nothing more."""
        account = repository.account(connection, holder.id, self._provider_name)
        if account is not None and account.provider_subscription_id == subscription_id:
            values = {"provider_subscription_id": None}
            repository.save_account(connection, holder.id, self._provider_name, values, now)

    # -- the provider's state, from its webhooks ------------------------------------------------

    def follow(
        self,
        connection: Connection,
        holder: CustomerRow,
        state: ProviderSubscription,
        now: datetime,
    ) -> bool:
        """Inside the webhook's write: the provider's subscription as it stands now becomes
        creditkit's (see ``SubscriptionService.follow_provider``)."""
        in_force = None if state.plan is None else self._version(connection, state.plan)
        scheduled = None if state.scheduled is None else self._version(connection, state.scheduled)
        return self._subscriptions.follow_provider(
            connection,
            holder,
            in_force,
            (state.period_start, state.period_end),
            state.cancel_at_period_end,
            scheduled,
            now,
        )

    def _version(self, connection: Connection, plan: Any) -> tuple[int, Interval] | None:
        if plan.plan not in self._catalog.plans:
            return None
        version_id = self._subscriptions.plan_version_id(connection, plan.plan, plan.version)
        return None if version_id is None else (version_id, plan.interval)

    # -- subscriptions creditkit ended ----------------------------------------------------------

    def end_ended(self, limit: int = ENDED_PER_RUN_MAX) -> int:
        """Cancels at the provider, now, each subscription whose customer creditkit moved to
        the default plan by itself (a renewal's grace period ended, a plan refunded); returns
        how many. Safe to run from several workers: the cancel is idempotent at the provider,
        and a subscription ended already is left as it is."""
        if self._billing is None or self._price(self._catalog.default_plan.id, Interval.MONTH):
            return 0  # (a default plan the provider collects is never "ended" by moving to it)
        with self._database.read() as connection:
            found = repository.subscriptions_on_plan(
                connection, self._provider_name, self._catalog.default_plan.id, limit
            )
        ended = 0
        for customer, subscription_id in found:
            try:
                self._billing.cancel_subscription_now(
                    subscription_id, provider_end_key(subscription_id)
                )
            except ProviderError:
                continue  # Stripe unreachable or refusing: the next run tries again

            def work(
                context: UnitOfWork,
                customer: str = customer,
                subscription_id: str = subscription_id,
            ) -> None:
                self._forget(
                    context.connection, context.customers[customer], subscription_id, context.now
                )

            self._ledger.locked_write([customer], work)
            ended += 1
        return ended
