"""A subscription paid through a payment provider (payments/): a checkout that starts it, a
renewal that failed or was paid late, and the provider's subscription followed when it changes
there. Each runs inside a write that holds the customer's lock.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.engine import Connection

from creditkit.catalog import Interval
from creditkit.derived_keys import proration_key
from creditkit.errors import require
from creditkit.ledger import repository as ledger_repository
from creditkit.ledger.schemas import Money
from creditkit.outbox.types import EventType
from creditkit.store.database import Database
from creditkit.store.unit_of_work import CustomerRow
from creditkit.subscriptions import repository
from creditkit.subscriptions.changes import PlanChanges
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
from creditkit.subscriptions.state import SubscriptionState, prorate, stamp


class ProviderChanges:
    """What payments does to a subscription, as the provider reports it."""

    def __init__(
        self,
        database: Database,
        plans: PlanVersions,
        records: SubscriptionRecords,
        starts: PeriodStarts,
        overage: Overage,
        changes: PlanChanges,
    ) -> None:
        self._database = database
        self._plans = plans
        self._records = records
        self._starts = starts
        self._overage = overage
        self._changes = changes

    def start_paid(
        self,
        connection: Connection,
        holder: CustomerRow,
        plan_id: str,
        interval: str,
        now: datetime,
        period_start: datetime | None = None,
    ) -> Subscription:
        """Inside a write that holds the customer's lock: a checkout has paid the first billing
        period of ``plan_id`` by ``interval``, so a new run of periods starts now (or at
        ``period_start``, the provider's subscription's start, so that the periods are the
        provider's), active and paid in money (its fee line is what the checkout paid). The
        unused part of a paid period in force is credited, as a change of interval credits
        it."""
        version_id = self._plans.version_for(plan_id)
        interval_ = self._plans.interval(plan_id, interval)
        anchor_at = now if period_start is None or period_start > now else period_start
        row = repository.read_subscription(connection, holder.id)
        if row is None:
            state = self._changes.insert(
                connection, holder, version_id, interval_, anchor_at, 0, PAY_WITH_MONEY
            )
        else:
            state = SubscriptionState.from_row(row)
            self._overage.close_stretch(connection, holder, state, now)
            self._credit_unused_time(connection, holder, state, version_id, now)
            state.switch(version_id, interval_, anchor_at)
        state.pay_with = PAY_WITH_MONEY
        state.status = SubscriptionStatus.ACTIVE
        state.trial_ends_at = None
        state.cancel_at_period_end = False
        state.scheduled_plan_version_id = None
        state.scheduled_interval = None
        self._starts.start(connection, holder, state, now)
        self._records.save(connection, holder, state, now)
        return self._records.view(connection, holder.external_id, state)

    def _credit_unused_time(
        self,
        connection: Connection,
        holder: CustomerRow,
        state: SubscriptionState,
        version_id: int,
        now: datetime,
    ) -> None:
        current, _version = self._plans.plan(connection, state.plan_version_id)
        price = current.prices.get(state.interval)
        in_trial = state.trial_ends_at is not None and now < state.trial_ends_at
        if not price or state.pay_with != PAY_WITH_MONEY or in_trial:
            return
        start, end = state.billing_bounds()
        credit = prorate(
            price.amount_minor, int((end - now).total_seconds()), int((end - start).total_seconds())
        )
        self._records.bill(
            connection, holder, state, BillingLineKind.PRORATION,
            f"unused time on {current.name}", Money(-credit, price.currency), now, end,
            proration_key(state.id, version_id, stamp(now)), now,
        )  # fmt: skip

    def set_status(
        self, connection: Connection, holder: CustomerRow, status: SubscriptionStatus, now: datetime
    ) -> bool:
        """Inside a write that holds the customer's lock: moves an active subscription to
        ``past_due`` (its renewal failed) or a past-due one back to ``active`` (paid in its
        grace period). False, with nothing written, when it was not in the other state."""
        moves = {
            SubscriptionStatus.PAST_DUE: SubscriptionStatus.ACTIVE,
            SubscriptionStatus.ACTIVE: SubscriptionStatus.PAST_DUE,
        }
        require(
            status in moves, "a subscription's status is set to active or past_due", str(status)
        )
        row = repository.read_subscription(connection, holder.id)
        if row is None or SubscriptionStatus(row.status) is not moves[status]:
            return False
        state = SubscriptionState.from_row(row)
        previous = SubscriptionState.from_row(row)
        state.status = status
        self._records.save(connection, holder, state, now)
        if status is SubscriptionStatus.PAST_DUE:
            self._records.announce(
                connection, holder, EventType.SUBSCRIPTION_PAST_DUE, previous, state, now,
                "renewal_failed",
            )  # fmt: skip
        return True

    def fall_back(self, connection: Connection, holder: CustomerRow, now: datetime) -> bool:
        """Inside a write that holds the customer's lock: moves the customer to the default
        plan now (a renewal left unpaid past its grace period, or the provider's subscription
        ended). False, with nothing written, when it is on the default plan already."""
        default_version_id = self._plans.default_version_id()
        row = repository.read_subscription(connection, holder.id)
        if row is None or row.plan_version_id == default_version_id:
            return False
        state = SubscriptionState.from_row(row)
        self._overage.close_stretch(connection, holder, state, now)
        state.status = SubscriptionStatus.ACTIVE
        state.pay_with = PAY_WITH_MONEY
        state.trial_ends_at = None
        state.cancel_at_period_end = False
        state.scheduled_plan_version_id = None
        state.scheduled_interval = None
        state.switch(default_version_id, Interval.MONTH, now)
        self._starts.start(connection, holder, state, now)
        self._records.save(connection, holder, state, now)
        return True

    def planned_change(
        self, customer: str, plan_id: str, interval: str | None
    ) -> tuple[str, Interval, str] | None:
        """What ``change_plan`` would do now, read without a lock, for a provider to follow
        first: the subscription's revision (its id and its last event's: every change that
        changed something wrote one), the target interval, and ``"same"`` (the plan in force:
        a scheduled change or cancellation is off), ``"upgrade"`` (now) or ``"later"`` (at the
        period's end). None when the customer has no subscription."""
        version_id = self._plans.version_for(plan_id)
        with self._database.read() as connection:
            holder = ledger_repository.read_customer(connection, customer)
            row = repository.read_subscription(connection, holder.id)
            if row is None:
                return None
            target_interval = self._plans.interval(plan_id, interval or row.interval)
            current, _version = self._plans.plan(connection, row.plan_version_id)
            target, _target_version = self._plans.plan(connection, version_id)
            revision = f"{row.id}.{repository.last_event_id(connection, holder.id)}"
        if (version_id, target_interval.value) == (row.plan_version_id, row.interval):
            return revision, target_interval, "same"
        return revision, target_interval, "upgrade" if target.rank > current.rank else "later"

    def follow_provider(
        self,
        connection: Connection,
        holder: CustomerRow,
        in_force: tuple[int, Interval] | None,
        period: tuple[datetime, datetime],
        cancel_at_period_end: bool,
        scheduled: tuple[int, Interval] | None,
        now: datetime,
    ) -> bool:
        """Inside a write that holds the customer's lock: the provider's subscription as it
        stands now (a change made in its billing portal, or one creditkit made there) becomes
        creditkit's. ``in_force`` is the plan version and interval of its price (None: not a
        price of this catalog, left alone); a price in force from a period that starts after
        this billing period is a change at the period's end, like ``scheduled``; one within it
        is a change now (an upgrade as ``change_plan`` makes it). Applying the same state again
        changes nothing: False, nothing written."""
        row = repository.read_subscription(connection, holder.id)
        if row is None:
            return False
        state = SubscriptionState.from_row(row)
        previous = SubscriptionState.from_row(row)
        _start, end = state.billing_bounds()
        if in_force is not None and in_force != (state.plan_version_id, state.interval):
            if period[0] >= end:
                scheduled = in_force  # the provider's next period: creditkit's boundary applies it
            else:
                self._follow_now(connection, holder, state, in_force, period[0], now)
        if cancel_at_period_end:
            # The provider ends it at the period's end (a change to the default plan is that,
            # there): the default plan then, nothing else scheduled.
            default_version_id = self._plans.default_version_id()
            state.cancel_at_period_end = state.plan_version_id != default_version_id
            scheduled = None
        else:
            state.cancel_at_period_end = False
        state.scheduled_plan_version_id, state.scheduled_interval = (
            (None, None) if scheduled is None else scheduled
        )
        if previous.values(now) == state.values(now):
            return False
        self._records.save(connection, holder, state, now)
        kind = (
            EventType.SUBSCRIPTION_CANCELED
            if state.cancel_at_period_end and not previous.cancel_at_period_end
            else EventType.SUBSCRIPTION_CHANGED
        )
        self._records.announce(connection, holder, kind, previous, state, now, "provider")
        return True

    def _follow_now(
        self,
        connection: Connection,
        holder: CustomerRow,
        state: SubscriptionState,
        in_force: tuple[int, Interval],
        period_start: datetime,
        now: datetime,
    ) -> None:
        """The provider's price changed within the billing period: an upgrade is one (its
        allowance raised by the difference); a downgrade takes effect now, the period's
        allowance kept. A change of interval starts the provider's new period."""
        version_id, interval = in_force
        current, _version = self._plans.plan(connection, state.plan_version_id)
        target, _target_version = self._plans.plan(connection, version_id)
        if target.rank > current.rank:
            self._changes.upgrade(
                connection, holder, state, current, version_id, interval,
                AllowanceOnUpgrade.DIFFERENCE, now,
            )  # fmt: skip
            return
        self._overage.close_stretch(connection, holder, state, now)
        if interval != state.interval:
            state.switch(version_id, interval, min(period_start, now))
            self._starts.start(connection, holder, state, now)
        else:
            state.plan_version_id = version_id
