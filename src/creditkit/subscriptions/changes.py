"""Plan changes a customer asks for: subscribing, a trial or a plan paid in credits (a new run of
periods), upgrades now (prorated), downgrades and interval changes at the period's end, and
cancellation.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection

from creditkit.catalog import Catalog, Interval, Plan
from creditkit.derived_keys import proration_key
from creditkit.errors import InvalidRequest, present
from creditkit.ledger import repository as ledger_repository
from creditkit.ledger.schemas import Money
from creditkit.ledger.service import LedgerService
from creditkit.outbox.types import EventType
from creditkit.store.unit_of_work import CustomerRow, UnitOfWork
from creditkit.subscriptions import repository
from creditkit.subscriptions.collection import PAY_WITH_MONEY
from creditkit.subscriptions.overage import Overage
from creditkit.subscriptions.period_starts import PeriodStarts
from creditkit.subscriptions.plan_versions import PlanVersions
from creditkit.subscriptions.records import SubscriptionRecords
from creditkit.subscriptions.schemas import (
    AllowanceOnUpgrade,
    BillingLineKind,
    Subscription,
    SubscriptionStatus,
)
from creditkit.subscriptions.state import (
    PAY_WITH_CREDITS,
    SubscriptionState,
    allowance_of,
    prorate,
    stamp,
)

TRIAL_DAYS_MAX = 365


class PlanChanges:
    """Subscribes customers and changes their plans, each in a write under their lock."""

    def __init__(
        self,
        ledger: LedgerService,
        catalog: Catalog,
        plans: PlanVersions,
        records: SubscriptionRecords,
        starts: PeriodStarts,
        overage: Overage,
    ) -> None:
        self._ledger = ledger
        self._catalog = catalog
        self._plans = plans
        self._records = records
        self._starts = starts
        self._overage = overage

    def subscribe(
        self,
        customer: str,
        plan_id: str,
        interval: str = "month",
        trial_days: int = 0,
        pay_with: str = PAY_WITH_MONEY,
    ) -> Subscription:
        """Puts a customer without a subscription on ``plan_id``; for one who has one, this is
        ``change_plan``. Calling it again with the same plan and interval changes nothing.
        A trial, or paying in credits (``pay_with="credits"``, the plan's
        ``prices_in_credits``), starts a new run of periods, from the default plan only."""
        version_id = self._plans.version_for(plan_id)
        interval_ = self._plans.interval(plan_id, interval)
        if isinstance(trial_days, bool) or not isinstance(trial_days, int):
            raise InvalidRequest("trial_days", "must be an int")
        if not 0 <= trial_days <= TRIAL_DAYS_MAX:
            raise InvalidRequest("trial_days", f"must be from 0 to {TRIAL_DAYS_MAX}")
        if pay_with not in (PAY_WITH_MONEY, PAY_WITH_CREDITS):
            raise InvalidRequest("pay_with", "must be 'money' or 'credits'")
        if pay_with == PAY_WITH_CREDITS:
            if interval_ not in self._catalog.plan(plan_id).prices_in_credits:
                raise InvalidRequest(
                    "pay_with", f"plan {plan_id!r} has no {interval_.value}ly price in credits"
                )
            if trial_days:
                raise InvalidRequest("trial_days", "a plan paid in credits has no trial")

        def work(context: UnitOfWork) -> Subscription:
            connection, now = context.connection, context.now
            holder = context.customers[customer]
            existing = repository.read_subscription(connection, holder.id)
            if existing is not None and (trial_days or pay_with == PAY_WITH_CREDITS):
                return self._restart(
                    connection, holder, existing, version_id, interval_, now, trial_days, pay_with
                )
            if existing is not None:
                return self._change(
                    connection, holder, version_id, interval_, AllowanceOnUpgrade.DIFFERENCE, now
                )
            state = self.insert(
                connection, holder, version_id, interval_, now, trial_days, pay_with
            )
            self._starts.start(connection, holder, state, now)
            self._records.save(connection, holder, state, now)
            return self._records.view(connection, holder.external_id, state)

        return self._ledger.locked_write([customer], work)

    @staticmethod
    def insert(
        connection: Connection,
        holder: CustomerRow,
        version_id: int,
        interval: Interval,
        now: datetime,
        trial_days: int,
        pay_with: str,
    ) -> SubscriptionState:
        trial_ends_at = now + timedelta(days=trial_days) if trial_days else None
        repository.insert_subscription(
            connection,
            {
                "customer_id": holder.id,
                "plan_version_id": version_id,
                "interval": interval.value,
                "status": (
                    SubscriptionStatus.TRIALING if trial_days else SubscriptionStatus.ACTIVE
                ).value,
                "anchor_at": now,
                "period_index": 0,
                "allowance_index": None,
                "trial_ends_at": trial_ends_at,
                "cancel_at_period_end": False,
                "scheduled_plan_version_id": None,
                "scheduled_interval": None,
                "created_at": now,
                "updated_at": now,
                "pay_with": pay_with,
                "allowance_time_zone": ledger_repository.customer_time_zone(connection, holder.id),
            },
        )
        row = present(
            repository.read_subscription(connection, holder.id),
            "a subscription just inserted is read back",
        )
        return SubscriptionState.from_row(row)

    def _restart(
        self,
        connection: Connection,
        holder: CustomerRow,
        existing: Any,
        version_id: int,
        interval: Interval,
        now: datetime,
        trial_days: int,
        pay_with: str,
    ) -> Subscription:
        """A trial, or a plan paid in credits, starts a new run of periods on the plan; only
        from the default plan, so a paying customer cannot trade a paid period for free days
        or pay twice for one."""
        state = SubscriptionState.from_row(existing)
        if (state.plan_version_id, state.interval, state.pay_with) == (
            version_id,
            interval,
            pay_with,
        ):
            return self._records.view(connection, holder.external_id, state)
        if state.plan_version_id != self._plans.default_version_id():
            field_name = "trial_days" if trial_days else "pay_with"
            raise InvalidRequest(field_name, "starts only from the default plan")
        previous = SubscriptionState.from_row(existing)
        self._overage.close_stretch(connection, holder, state, now)
        state.switch(version_id, interval, now)
        state.pay_with = pay_with
        state.status = SubscriptionStatus.TRIALING if trial_days else SubscriptionStatus.ACTIVE
        state.trial_ends_at = now + timedelta(days=trial_days) if trial_days else None
        state.cancel_at_period_end = False
        state.scheduled_plan_version_id = None
        state.scheduled_interval = None
        self._starts.start(connection, holder, state, now)
        self._records.save(connection, holder, state, now)
        self._records.announce(
            connection, holder, EventType.SUBSCRIPTION_CHANGED, previous, state, now, "restart"
        )
        return self._records.view(connection, holder.external_id, state)

    def change_plan(
        self,
        customer: str,
        plan_id: str,
        interval: str | None = None,
        allowance_on_upgrade: str = "difference",
    ) -> Subscription:
        """Upgrade (a plan of higher rank): now, with the price difference prorated to the second
        over the rest of the billing period and the allowance raised for the rest of its period.
        Downgrade, or a change of interval alone: at the end of the billing period; until then
        the current plan stands. Changing to the current plan cancels a scheduled change."""
        version_id = self._plans.version_for(plan_id)
        try:
            on_upgrade = AllowanceOnUpgrade(allowance_on_upgrade)
        except ValueError:
            raise InvalidRequest(
                "allowance_on_upgrade", "must be 'difference', 'full' or 'none'"
            ) from None

        def work(context: UnitOfWork) -> Subscription:
            holder = context.customers[customer]
            row = repository.read_subscription(context.connection, holder.id)
            if row is None:
                raise InvalidRequest("customer", "has no subscription: subscribe first")
            target_interval = self._plans.interval(plan_id, interval or row.interval)
            return self._change(
                context.connection, holder, version_id, target_interval, on_upgrade, context.now
            )

        return self._ledger.locked_write([customer], work)

    def cancel(self, customer: str, at_period_end: bool = True) -> Subscription:
        """Moves the customer to the default plan: at the end of the billing period (the paid
        plan stands until then), or now. Credits already granted stay until they expire."""

        def work(context: UnitOfWork) -> Subscription:
            return self.cancel_locked(
                context.connection, context.customers[customer], at_period_end, context.now
            )

        return self._ledger.locked_write([customer], work)

    def cancel_locked(
        self, connection: Connection, holder: CustomerRow, at_period_end: bool, now: datetime
    ) -> Subscription:
        """``cancel`` inside a write that holds the customer's lock."""
        default_version_id = self._plans.default_version_id()
        row = repository.read_subscription(connection, holder.id)
        if row is None:
            raise InvalidRequest("customer", "has no subscription to cancel")
        state = SubscriptionState.from_row(row)
        previous = SubscriptionState.from_row(row)
        state.scheduled_plan_version_id = None
        state.scheduled_interval = None
        if at_period_end:
            state.cancel_at_period_end = state.plan_version_id != default_version_id
        else:
            state.cancel_at_period_end = False
            if state.status is SubscriptionStatus.TRIALING:
                # The trial ends with the plan it tried: nothing left to announce or end.
                state.status = SubscriptionStatus.ACTIVE
                state.trial_ends_at = None
            self._overage.close_stretch(connection, holder, state, now)
            state.switch(default_version_id, Interval.MONTH, now)
            self._starts.start(connection, holder, state, now)
        self._records.save(connection, holder, state, now)
        reason = "period_end" if at_period_end else "now"
        self._records.announce(
            connection, holder, EventType.SUBSCRIPTION_CANCELED, previous, state, now, reason
        )
        return self._records.view(connection, holder.external_id, state)

    def _change(
        self,
        connection: Connection,
        holder: CustomerRow,
        version_id: int,
        interval: Interval,
        on_upgrade: AllowanceOnUpgrade,
        now: datetime,
    ) -> Subscription:
        row = present(
            repository.read_subscription(connection, holder.id),
            "a subscription changes plan only once it exists",
        )
        state = SubscriptionState.from_row(row)
        previous = SubscriptionState.from_row(row)
        current, _version = self._plans.plan(connection, state.plan_version_id)
        target, _target_version = self._plans.plan(connection, version_id)
        reason = "scheduled"
        if version_id == state.plan_version_id and interval == state.interval:
            # Back to the plan in force: whatever was scheduled is off.
            state.scheduled_plan_version_id = None
            state.scheduled_interval = None
            state.cancel_at_period_end = False
        elif target.rank > current.rank:
            self.upgrade(connection, holder, state, current, version_id, interval, on_upgrade, now)
            reason = "upgrade"
        else:
            state.scheduled_plan_version_id = version_id
            state.scheduled_interval = interval
            state.cancel_at_period_end = False
        self._records.save(connection, holder, state, now)
        self._records.announce(
            connection, holder, EventType.SUBSCRIPTION_CHANGED, previous, state, now, reason
        )
        return self._records.view(connection, holder.external_id, state)

    def upgrade(
        self,
        connection: Connection,
        holder: CustomerRow,
        state: SubscriptionState,
        current: Plan,
        version_id: int,
        interval: Interval,
        on_upgrade: AllowanceOnUpgrade,
        now: datetime,
    ) -> None:
        target, _version = self._plans.plan(connection, version_id)
        start, end = state.billing_bounds()
        old_price = current.prices.get(state.interval)
        new_price = target.prices.get(interval)
        if old_price and new_price and old_price.currency != new_price.currency:
            raise InvalidRequest("plan", "an upgrade cannot change the billing currency")
        remaining = int((end - now).total_seconds())
        total = int((end - start).total_seconds())
        old_allowance = allowance_of(current)
        state.scheduled_plan_version_id = None
        state.scheduled_interval = None
        state.cancel_at_period_end = False
        # The usage so far is billed at the terms it was used under.
        self._overage.close_stretch(connection, holder, state, now)
        if interval != state.interval:
            # A new interval starts a new billing period now: the unused part of the old one is
            # credited, the new one billed in full.
            if old_price:
                credit = prorate(old_price.amount_minor, remaining, total)
                self._records.bill(
                    connection, holder, state, BillingLineKind.PRORATION,
                    f"unused time on {current.name}", Money(-credit, old_price.currency),
                    now, end, proration_key(state.id, version_id, stamp(now)),
                    now,
                )  # fmt: skip
            state.switch(version_id, interval, now)
            # The new run's first allowance follows allowance_on_upgrade, as without the change
            # of interval: what is left of the old allowance stays until it expires.
            self._starts.start(connection, holder, state, now, grant_allowance=False)
            self._starts.raise_allowance(
                connection, holder, state, old_allowance, target, on_upgrade, now
            )
            return
        state.plan_version_id = version_id
        difference = (new_price.amount_minor if new_price else 0) - (
            old_price.amount_minor if old_price else 0
        )
        currency = (new_price or old_price or Money(0, "USD")).currency
        amount = prorate(difference, remaining, total) if difference > 0 else 0
        if amount:
            self._records.bill(
                connection, holder, state, BillingLineKind.PRORATION,
                f"upgrade to {target.name}, prorated", Money(amount, currency), now, end,
                proration_key(state.id, version_id, stamp(now)), now,
            )  # fmt: skip
        self._starts.raise_allowance(
            connection, holder, state, old_allowance, target, on_upgrade, now
        )
