"""Subscriptions: customers on plan versions, their periods, renewals, and plan changes.

Renewals are due work like hold timeouts and grant expiry: each customer's ``next_due_at``
includes its subscription's next period boundary, so the sweep that runs at the start of any read
or write of that customer (or ``CreditKit.tick()``) renews it first. Nothing needs a cron.

Each allowance period's allowance is a grant of source ``allowance`` expiring at the period's
end, under a key derived from the subscription and the period, so a renewal is exactly-once
however many processes sweep.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection

from creditkit.catalog import (
    UNLIMITED,
    Allowance,
    AllowanceExpiry,
    Catalog,
    Interval,
    OverageCarry,
    Plan,
    RolloverKind,
)
from creditkit.catalog.schemas import plan_from_terms
from creditkit.clock import Clock
from creditkit.derived_keys import (
    allowance_key,
    fee_credits_key,
    fee_key,
    overage_carry_key,
    overage_key,
    proration_key,
    rollover_key,
    rollover_top_up_key,
    upgrade_allowance_key,
)
from creditkit.errors import (
    IdempotencyConflict,
    InsufficientCredits,
    InvalidRequest,
    UnknownCustomer,
    present,
    require,
)
from creditkit.ledger import repository as ledger_repository
from creditkit.ledger.checks import IDEMPOTENCY_KEY_LENGTH_MAX, check_text
from creditkit.ledger.corrections import REASON_LENGTH_MAX
from creditkit.ledger.kernel import ISSUANCE, Spend
from creditkit.ledger.schemas import GrantSource, Money, TransactionKind
from creditkit.ledger.service import LedgerService
from creditkit.outbox.types import EventType
from creditkit.outbox.writer import derived_event_id, emit, event_exists
from creditkit.store.database import Database
from creditkit.store.tables import to_epoch_microseconds
from creditkit.store.unit_of_work import CustomerRow, UnitOfWork
from creditkit.subscriptions import overage_corrections, repository
from creditkit.subscriptions.collection import PAY_WITH_MONEY, Collector
from creditkit.subscriptions.periods import (
    PERIODS_CAUGHT_UP_MAX,
    Cadence,
    months_in,
    period_bounds,
    period_index_at,
)
from creditkit.subscriptions.rollover import (
    EndingGrant,
    carried,
    post_overage_carry,
    post_period_reset,
)
from creditkit.subscriptions.schemas import (
    AllowanceOnUpgrade,
    BillingLine,
    BillingLineKind,
    PaidPeriod,
    Subscription,
    SubscriptionStatus,
)

TRIAL_DAYS_MAX = 365
#: ``subscription.trial_ending`` fires this many days before a trial ends (as Stripe's
#: ``customer.subscription.trial_will_end``), or when a shorter trial starts.
TRIAL_ENDING_NOTICE_DAYS = 3
PAY_WITH_CREDITS = "credits"
BILLING_LINES_PAGE_MAX = 500


def prorate(amount_minor: int, remaining_seconds: int, period_seconds: int) -> int:
    """``amount_minor`` times remaining / period, to the whole second, rounded half up to the minor
    unit (half a cent and more bills a cent): the one rounding rule of proration."""
    require(
        period_seconds > 0 and 0 <= remaining_seconds <= period_seconds,
        "a prorated part of a period lies within it",
        f"{remaining_seconds} of {period_seconds} seconds",
    )
    numerator = 2 * amount_minor * remaining_seconds + period_seconds
    return numerator // (2 * period_seconds)


@dataclass(slots=True)
class _State:
    """A subscription row being advanced in memory, written back once."""

    id: int
    plan_version_id: int
    interval: Interval
    status: SubscriptionStatus
    anchor_at: datetime
    period_index: int
    allowance_index: int | None
    trial_ends_at: datetime | None
    cancel_at_period_end: bool
    scheduled_plan_version_id: int | None
    scheduled_interval: Interval | None
    pay_with: str = "money"
    #: Where allowance periods are counted from when an operator reset them mid-run; None:
    #: from the run's anchor.
    allowance_anchor_at: datetime | None = None
    #: The customer's zone this run of allowance periods is counted in; None: the plan's.
    allowance_time_zone: str | None = None

    @classmethod
    def from_row(cls, row: Any) -> _State:
        return cls(
            id=row.id,
            plan_version_id=row.plan_version_id,
            interval=Interval(row.interval),
            status=SubscriptionStatus(row.status),
            anchor_at=row.anchor_at,
            period_index=row.period_index,
            allowance_index=row.allowance_index,
            trial_ends_at=row.trial_ends_at,
            cancel_at_period_end=row.cancel_at_period_end,
            pay_with=row.pay_with,
            scheduled_plan_version_id=row.scheduled_plan_version_id,
            scheduled_interval=None
            if row.scheduled_interval is None
            else Interval(row.scheduled_interval),
            allowance_anchor_at=row.allowance_anchor_at,
            allowance_time_zone=row.allowance_time_zone,
        )

    def values(self, now: datetime) -> dict[str, Any]:
        return {
            "plan_version_id": self.plan_version_id,
            "interval": self.interval.value,
            "status": self.status.value,
            "anchor_at": self.anchor_at,
            "period_index": self.period_index,
            "allowance_index": self.allowance_index,
            "trial_ends_at": self.trial_ends_at,
            "cancel_at_period_end": self.cancel_at_period_end,
            "pay_with": self.pay_with,
            "allowance_anchor_at": self.allowance_anchor_at,
            "allowance_time_zone": self.allowance_time_zone,
            "scheduled_plan_version_id": self.scheduled_plan_version_id,
            "scheduled_interval": None
            if self.scheduled_interval is None
            else self.scheduled_interval.value,
            "updated_at": now,
        }

    def billing_bounds(self) -> tuple[datetime, datetime]:
        return period_bounds(self.anchor_at, months_in(self.interval), self.period_index)

    def rebase(self, anchor_at: datetime) -> None:
        """Starts a new run of periods at ``anchor_at`` (a change of interval or plan at a
        boundary, or an immediate switch)."""
        self.anchor_at = anchor_at
        self.period_index = 0
        self.allowance_index = None
        self.allowance_anchor_at = None

    def allowance_bounds(self, allowance: Allowance, index: int) -> tuple[datetime, datetime]:
        return Cadence.of(allowance, self.allowance_time_zone).bounds(
            self.allowance_anchor_at or self.anchor_at, index
        )

    def allowance_index_at(self, allowance: Allowance, moment: datetime) -> int:
        return Cadence.of(allowance, self.allowance_time_zone).index_at(
            self.allowance_anchor_at or self.anchor_at, moment
        )

    def follow_time_zone(self, time_zone: str | None, boundary: datetime) -> None:
        """At an allowance boundary: when the customer's zone is no longer the one this run is
        counted in, the next periods follow the new zone, as a new run from ``boundary`` (the
        period that just ended kept its end; none is skipped or granted twice, as the new run's
        first period starts where the last one ended)."""
        if time_zone == self.allowance_time_zone:
            return
        self.allowance_time_zone = time_zone
        self.allowance_anchor_at = boundary
        self.allowance_index = None

    def allowance_bounds_at(
        self, allowance: Allowance, moment: datetime
    ) -> tuple[datetime, datetime]:
        return self.allowance_bounds(allowance, self.allowance_index_at(allowance, moment))


def _allowance_of(plan: Plan) -> Allowance | None:
    return plan.allowance if isinstance(plan.allowance, Allowance) else None


def _allowance_period(
    state: _State, allowance: Allowance, moment: datetime
) -> tuple[int, datetime]:
    """The index and end of the allowance period that contains ``moment``."""
    index = state.allowance_index_at(allowance, moment)
    return index, state.allowance_bounds(allowance, index)[1]


class SubscriptionService:
    """``collector`` collects the price of each billing period a renewal starts (payments'; see
    ``Collector``); without one, renewals bill their lines for the app to collect."""

    def __init__(
        self,
        ledger: LedgerService,
        database: Database,
        clock: Clock,
        catalog: Catalog,
        collector: Collector | None = None,
    ) -> None:
        self._ledger = ledger
        self._database = database
        self._now = clock
        self._catalog = catalog
        self._collector = collector
        self._plans_by_version_id: dict[int, tuple[Plan, int]] = {}
        self._current_version_ids = self._register_versions()

    # -- plan versions --------------------------------------------------------------------------

    def _register_versions(self) -> dict[str, int]:
        """Records each plan's terms as a version; an edited plan gets the next version number,
        and subscriptions on older versions keep theirs (grandfathering)."""

        def register(context: UnitOfWork) -> dict[str, int]:
            now = context.now
            current: dict[str, int] = {}
            for plan in self._catalog.plans.values():
                fingerprint = self._catalog.fingerprint(plan.id)
                row = repository.plan_version_by_fingerprint(
                    context.connection, plan.id, fingerprint
                )
                if row is None:
                    repository.insert_plan_version(
                        context.connection,
                        plan.id,
                        fingerprint,
                        plan.name,
                        plan.rank,
                        self._catalog.plan_terms(plan.id),
                        now,
                    )
                    row = present(
                        repository.plan_version_by_fingerprint(
                            context.connection, plan.id, fingerprint
                        ),
                        "a plan version just inserted is found by its fingerprint",
                    )
                current[plan.id] = row.id
            return current

        return self._database.unit_of_work(self._now, register)

    def _plan(self, connection: Connection, plan_version_id: int) -> tuple[Plan, int]:
        """The plan as sold at that version, and the version number. Versions never change, so
        they are cached for the process's life."""
        cached = self._plans_by_version_id.get(plan_version_id)
        if cached is None:
            row = repository.read_plan_version(connection, plan_version_id)
            plan = plan_from_terms(row.plan_id, row.name, row.rank, json.loads(row.terms))
            cached = (plan, row.version)
            self._plans_by_version_id[plan_version_id] = cached
        return cached

    def plan_at_version(self, connection: Connection, plan_version_id: int) -> Plan:
        """The plan's terms as sold at that version (what its subscribers pay and get)."""
        return self._plan(connection, plan_version_id)[0]

    def _version_for(self, plan_id: str) -> int:
        self._catalog.plan(plan_id)  # raises UnknownPlan
        return self._current_version_ids[plan_id]

    # -- writes ---------------------------------------------------------------------------------

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
        version_id = self._version_for(plan_id)
        interval_ = self._interval(plan_id, interval)
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
            state = self._insert(
                connection, holder, version_id, interval_, now, trial_days, pay_with
            )
            self._start_period(connection, holder, state, now)
            self._save(connection, holder, state, now)
            return self._view(connection, holder.external_id, state)

        return self._ledger.locked_write([customer], work)

    @staticmethod
    def _insert(
        connection: Connection,
        holder: CustomerRow,
        version_id: int,
        interval: Interval,
        now: datetime,
        trial_days: int,
        pay_with: str,
    ) -> _State:
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
        return _State.from_row(row)

    # -- paid through a payment provider (payments/) --------------------------------------------

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
        version_id = self._version_for(plan_id)
        interval_ = self._interval(plan_id, interval)
        anchor_at = now if period_start is None or period_start > now else period_start
        row = repository.read_subscription(connection, holder.id)
        if row is None:
            state = self._insert(
                connection, holder, version_id, interval_, anchor_at, 0, PAY_WITH_MONEY
            )
        else:
            state = _State.from_row(row)
            self._close_stretch(connection, holder, state, now)
            self._credit_unused_time(connection, holder, state, version_id, now)
            self._switch(state, version_id, interval_, anchor_at)
        state.pay_with = PAY_WITH_MONEY
        state.status = SubscriptionStatus.ACTIVE
        state.trial_ends_at = None
        state.cancel_at_period_end = False
        state.scheduled_plan_version_id = None
        state.scheduled_interval = None
        self._start_period(connection, holder, state, now)
        self._save(connection, holder, state, now)
        return self._view(connection, holder.external_id, state)

    def _credit_unused_time(
        self,
        connection: Connection,
        holder: CustomerRow,
        state: _State,
        version_id: int,
        now: datetime,
    ) -> None:
        current, _version = self._plan(connection, state.plan_version_id)
        price = current.prices.get(state.interval)
        in_trial = state.trial_ends_at is not None and now < state.trial_ends_at
        if not price or state.pay_with != PAY_WITH_MONEY or in_trial:
            return
        start, end = state.billing_bounds()
        credit = prorate(
            price.amount_minor, int((end - now).total_seconds()), int((end - start).total_seconds())
        )
        self._bill(
            connection, holder, state, BillingLineKind.PRORATION,
            f"unused time on {current.name}", Money(-credit, price.currency), now, end,
            proration_key(state.id, version_id, self._stamp(now)), now,
        )  # fmt: skip

    def paid_period(self, connection: Connection, holder: CustomerRow) -> PaidPeriod | None:
        """The billing period in force, when it is paid in money at a price above zero and
        not in trial: what a renewal payment pays for. None otherwise."""
        row = repository.read_subscription(connection, holder.id)
        return None if row is None else self._paid_period(connection, _State.from_row(row))

    def _paid_period(self, connection: Connection, state: _State) -> PaidPeriod | None:
        plan, _version = self._plan(connection, state.plan_version_id)
        price = plan.prices.get(state.interval)
        start, end = state.billing_bounds()
        in_trial = state.trial_ends_at is not None and start < state.trial_ends_at
        if state.pay_with != PAY_WITH_MONEY or not price or in_trial:
            return None
        return PaidPeriod(
            state.id, plan.id, state.interval, state.status, state.anchor_at, start, end, price
        )

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
        state = _State.from_row(row)
        previous = _State.from_row(row)
        state.status = status
        self._save(connection, holder, state, now)
        if status is SubscriptionStatus.PAST_DUE:
            self._announce(
                connection, holder, EventType.SUBSCRIPTION_PAST_DUE, previous, state, now,
                "renewal_failed",
            )  # fmt: skip
        return True

    def fall_back(self, connection: Connection, holder: CustomerRow, now: datetime) -> bool:
        """Inside a write that holds the customer's lock: moves the customer to the default
        plan now (a renewal left unpaid past its grace period, or the provider's subscription
        ended). False, with nothing written, when it is on the default plan already."""
        default_version_id = self._version_for(self._catalog.default_plan.id)
        row = repository.read_subscription(connection, holder.id)
        if row is None or row.plan_version_id == default_version_id:
            return False
        state = _State.from_row(row)
        self._close_stretch(connection, holder, state, now)
        state.status = SubscriptionStatus.ACTIVE
        state.pay_with = PAY_WITH_MONEY
        state.trial_ends_at = None
        state.cancel_at_period_end = False
        state.scheduled_plan_version_id = None
        state.scheduled_interval = None
        self._switch(state, default_version_id, Interval.MONTH, now)
        self._start_period(connection, holder, state, now)
        self._save(connection, holder, state, now)
        return True

    def planned_change(
        self, customer: str, plan_id: str, interval: str | None
    ) -> tuple[str, Interval, str] | None:
        """What ``change_plan`` would do now, read without a lock, for a provider to follow
        first: the subscription's revision (its id and its last event's: every change that
        changed something wrote one), the target interval, and ``"same"`` (the plan in force:
        a scheduled change or cancellation is off), ``"upgrade"`` (now) or ``"later"`` (at the
        period's end). None when the customer has no subscription."""
        version_id = self._version_for(plan_id)
        with self._database.read() as connection:
            holder = ledger_repository.read_customer(connection, customer)
            row = repository.read_subscription(connection, holder.id)
            if row is None:
                return None
            target_interval = self._interval(plan_id, interval or row.interval)
            current, _version = self._plan(connection, row.plan_version_id)
            target, _target_version = self._plan(connection, version_id)
            revision = f"{row.id}.{repository.last_event_id(connection, holder.id)}"
        if (version_id, target_interval.value) == (row.plan_version_id, row.interval):
            return revision, target_interval, "same"
        return revision, target_interval, "upgrade" if target.rank > current.rank else "later"

    def on_default_plan(self, connection: Connection, holder: CustomerRow) -> bool:
        row = repository.read_subscription(connection, holder.id)
        default_version_id = self._version_for(self._catalog.default_plan.id)
        return row is not None and row.plan_version_id == default_version_id

    def view(self, connection: Connection, holder: CustomerRow) -> Subscription:
        row = present(
            repository.read_subscription(connection, holder.id), "a viewed subscription exists"
        )
        return self._view(connection, holder.external_id, _State.from_row(row))

    def plan_version_id(self, connection: Connection, plan_id: str, version: int) -> int | None:
        """The id of ``plan_id``'s version ``version``; None when there is no such version."""
        row = repository.plan_version_by_number(connection, plan_id, version)
        return None if row is None else int(row.id)

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
        state = _State.from_row(row)
        previous = _State.from_row(row)
        _start, end = state.billing_bounds()
        if in_force is not None and in_force != (state.plan_version_id, state.interval):
            if period[0] >= end:
                scheduled = in_force  # the provider's next period: creditkit's boundary applies it
            else:
                self._follow_now(connection, holder, state, in_force, period[0], now)
        if cancel_at_period_end:
            # The provider ends it at the period's end (a change to the default plan is that,
            # there): the default plan then, nothing else scheduled.
            default_version_id = self._version_for(self._catalog.default_plan.id)
            state.cancel_at_period_end = state.plan_version_id != default_version_id
            scheduled = None
        else:
            state.cancel_at_period_end = False
        state.scheduled_plan_version_id, state.scheduled_interval = (
            (None, None) if scheduled is None else scheduled
        )
        if previous.values(now) == state.values(now):
            return False
        self._save(connection, holder, state, now)
        kind = (
            EventType.SUBSCRIPTION_CANCELED
            if state.cancel_at_period_end and not previous.cancel_at_period_end
            else EventType.SUBSCRIPTION_CHANGED
        )
        self._announce(connection, holder, kind, previous, state, now, "provider")
        return True

    def _follow_now(
        self,
        connection: Connection,
        holder: CustomerRow,
        state: _State,
        in_force: tuple[int, Interval],
        period_start: datetime,
        now: datetime,
    ) -> None:
        """The provider's price changed within the billing period: an upgrade is one (its
        allowance raised by the difference); a downgrade takes effect now, the period's
        allowance kept. A change of interval starts the provider's new period."""
        version_id, interval = in_force
        current, _version = self._plan(connection, state.plan_version_id)
        target, _target_version = self._plan(connection, version_id)
        if target.rank > current.rank:
            self._upgrade(
                connection, holder, state, current, version_id, interval,
                AllowanceOnUpgrade.DIFFERENCE, now,
            )  # fmt: skip
            return
        self._close_stretch(connection, holder, state, now)
        if interval != state.interval:
            self._switch(state, version_id, interval, min(period_start, now))
            self._start_period(connection, holder, state, now)
        else:
            state.plan_version_id = version_id

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
        state = _State.from_row(existing)
        if (state.plan_version_id, state.interval, state.pay_with) == (
            version_id,
            interval,
            pay_with,
        ):
            return self._view(connection, holder.external_id, state)
        if state.plan_version_id != self._version_for(self._catalog.default_plan.id):
            field_name = "trial_days" if trial_days else "pay_with"
            raise InvalidRequest(field_name, "starts only from the default plan")
        previous = _State.from_row(existing)
        self._close_stretch(connection, holder, state, now)
        self._switch(state, version_id, interval, now)
        state.pay_with = pay_with
        state.status = SubscriptionStatus.TRIALING if trial_days else SubscriptionStatus.ACTIVE
        state.trial_ends_at = now + timedelta(days=trial_days) if trial_days else None
        state.cancel_at_period_end = False
        state.scheduled_plan_version_id = None
        state.scheduled_interval = None
        self._start_period(connection, holder, state, now)
        self._save(connection, holder, state, now)
        self._announce(
            connection, holder, EventType.SUBSCRIPTION_CHANGED, previous, state, now, "restart"
        )
        return self._view(connection, holder.external_id, state)

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
        version_id = self._version_for(plan_id)
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
            target_interval = self._interval(plan_id, interval or row.interval)
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
        default_version_id = self._version_for(self._catalog.default_plan.id)
        row = repository.read_subscription(connection, holder.id)
        if row is None:
            raise InvalidRequest("customer", "has no subscription to cancel")
        state = _State.from_row(row)
        previous = _State.from_row(row)
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
            self._close_stretch(connection, holder, state, now)
            self._switch(state, default_version_id, Interval.MONTH, now)
            self._start_period(connection, holder, state, now)
        self._save(connection, holder, state, now)
        reason = "period_end" if at_period_end else "now"
        self._announce(
            connection, holder, EventType.SUBSCRIPTION_CANCELED, previous, state, now, reason
        )
        return self._view(connection, holder.external_id, state)

    def _interval(self, plan_id: str, interval: str) -> Interval:
        try:
            interval_ = Interval(interval)
        except ValueError:
            raise InvalidRequest("interval", "must be 'month' or 'year'") from None
        plan = self._catalog.plan(plan_id)
        if plan.prices and interval_ not in plan.prices:
            raise InvalidRequest(
                "interval", f"plan {plan_id!r} is not sold by the {interval_.value}"
            )
        return interval_

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
        state = _State.from_row(row)
        previous = _State.from_row(row)
        current, _version = self._plan(connection, state.plan_version_id)
        target, _target_version = self._plan(connection, version_id)
        reason = "scheduled"
        if version_id == state.plan_version_id and interval == state.interval:
            # Back to the plan in force: whatever was scheduled is off.
            state.scheduled_plan_version_id = None
            state.scheduled_interval = None
            state.cancel_at_period_end = False
        elif target.rank > current.rank:
            self._upgrade(connection, holder, state, current, version_id, interval, on_upgrade, now)
            reason = "upgrade"
        else:
            state.scheduled_plan_version_id = version_id
            state.scheduled_interval = interval
            state.cancel_at_period_end = False
        self._save(connection, holder, state, now)
        self._announce(
            connection, holder, EventType.SUBSCRIPTION_CHANGED, previous, state, now, reason
        )
        return self._view(connection, holder.external_id, state)

    def _upgrade(
        self,
        connection: Connection,
        holder: CustomerRow,
        state: _State,
        current: Plan,
        version_id: int,
        interval: Interval,
        on_upgrade: AllowanceOnUpgrade,
        now: datetime,
    ) -> None:
        target, _version = self._plan(connection, version_id)
        start, end = state.billing_bounds()
        old_price = current.prices.get(state.interval)
        new_price = target.prices.get(interval)
        if old_price and new_price and old_price.currency != new_price.currency:
            raise InvalidRequest("plan", "an upgrade cannot change the billing currency")
        remaining = int((end - now).total_seconds())
        total = int((end - start).total_seconds())
        old_allowance = _allowance_of(current)
        state.scheduled_plan_version_id = None
        state.scheduled_interval = None
        state.cancel_at_period_end = False
        # The usage so far is billed at the terms it was used under.
        self._close_stretch(connection, holder, state, now)
        if interval != state.interval:
            # A new interval starts a new billing period now: the unused part of the old one is
            # credited, the new one billed in full.
            if old_price:
                credit = prorate(old_price.amount_minor, remaining, total)
                self._bill(
                    connection, holder, state, BillingLineKind.PRORATION,
                    f"unused time on {current.name}", Money(-credit, old_price.currency),
                    now, end, proration_key(state.id, version_id, self._stamp(now)),
                    now,
                )  # fmt: skip
            self._switch(state, version_id, interval, now)
            # The new run's first allowance follows allowance_on_upgrade, as without the change
            # of interval: what is left of the old allowance stays until it expires.
            self._start_period(connection, holder, state, now, grant_allowance=False)
            self._raise_allowance(connection, holder, state, old_allowance, target, on_upgrade, now)
            return
        state.plan_version_id = version_id
        difference = (new_price.amount_minor if new_price else 0) - (
            old_price.amount_minor if old_price else 0
        )
        currency = (new_price or old_price or Money(0, "USD")).currency
        amount = prorate(difference, remaining, total) if difference > 0 else 0
        if amount:
            self._bill(
                connection, holder, state, BillingLineKind.PRORATION,
                f"upgrade to {target.name}, prorated", Money(amount, currency), now, end,
                proration_key(state.id, version_id, self._stamp(now)), now,
            )  # fmt: skip
        self._raise_allowance(connection, holder, state, old_allowance, target, on_upgrade, now)

    def _raise_allowance(
        self,
        connection: Connection,
        holder: CustomerRow,
        state: _State,
        old: Allowance | None,
        target: Plan,
        on_upgrade: AllowanceOnUpgrade,
        now: datetime,
    ) -> None:
        new = _allowance_of(target)
        if new is None:
            state.allowance_index = None
            return
        index, end = _allowance_period(state, new, now)
        unit = self._ledger.unit(new.unit)
        steps = unit.to_steps(new.amount)
        if on_upgrade is AllowanceOnUpgrade.DIFFERENCE and old is not None and old.unit == new.unit:
            steps -= unit.to_steps(old.amount)
        if on_upgrade is not AllowanceOnUpgrade.NONE and steps > 0:
            self._post_allowance(
                connection, holder, new, steps, end, now,
                upgrade_allowance_key(
                    state.id, state.plan_version_id, self._stamp(state.anchor_at), index
                ),
                {"allowance_period_end": end.isoformat(), "upgrade": True},
            )  # fmt: skip
        # This period's allowance counts as given: the next one comes at renewal.
        state.allowance_index = index

    @staticmethod
    def _switch(state: _State, version_id: int, interval: Interval, at: datetime) -> None:
        state.plan_version_id = version_id
        state.interval = interval
        state.rebase(at)

    # -- periods --------------------------------------------------------------------------------

    def _start_period(
        self,
        connection: Connection,
        holder: CustomerRow,
        state: _State,
        now: datetime,
        renewal: bool = False,
        grant_allowance: bool = True,
    ) -> None:
        """Bills the current billing period (unless in trial) and grants the allowance of the
        current allowance period (unless ``grant_allowance`` is False), each once. A plan paid in
        credits is charged first, so the period's own allowance never pays for it; if the
        balance cannot pay, a new subscription is refused and a renewal falls back to the
        default plan."""
        plan, _version = self._plan(connection, state.plan_version_id)
        start, end = state.billing_bounds()
        price = plan.prices.get(state.interval)
        in_trial = state.trial_ends_at is not None and start < state.trial_ends_at
        if state.pay_with == PAY_WITH_CREDITS and state.interval not in plan.prices_in_credits:
            # The plan now in force has no price in credits (a cancellation back to the default
            # plan, a change to a plan sold for money only): it is paid like any other plan.
            state.pay_with = PAY_WITH_MONEY
        if state.pay_with == PAY_WITH_CREDITS and not in_trial:
            if not self._pay_in_credits(connection, holder, state, plan, now):
                # The balance cannot pay this period: back to the default plan, paid in money.
                if renewal:
                    state.pay_with = PAY_WITH_MONEY
                    self._switch(state, self._version_for(self._catalog.default_plan.id),
                                 Interval.MONTH, start)  # fmt: skip
                    self._start_period(connection, holder, state, now, renewal=True)
                    return
                price_in_credits = plan.prices_in_credits[state.interval]
                unit = self._ledger.unit(price_in_credits.unit)
                available = sum(
                    grant.remaining
                    for grant in self._ledger.live_in_order(
                        ledger_repository.grants_with_credits(connection, holder.id, unit.name),
                        now,
                    )
                )
                raise InsufficientCredits(
                    holder.external_id,
                    unit.name,
                    unit.to_quantity(available),
                    price_in_credits.amount,
                )
        elif price is not None and price.amount_minor > 0 and not in_trial:
            self._bill(
                connection, holder, state, BillingLineKind.SUBSCRIPTION,
                f"{plan.name}, {state.interval.value}ly", price, start, end,
                fee_key(
                    state.id, state.plan_version_id, self._stamp(state.anchor_at),
                    state.period_index,
                ),
                now,
            )  # fmt: skip
        if grant_allowance:
            self._grant_allowance(connection, holder, state, plan, start, now)

    def _pay_in_credits(
        self, connection: Connection, holder: CustomerRow, state: _State, plan: Plan, now: datetime
    ) -> bool:
        price = plan.prices_in_credits[state.interval]
        return self._ledger.post_charge(
            connection,
            holder,
            fee_credits_key(
                state.id, state.plan_version_id, self._stamp(state.anchor_at), state.period_index
            ),
            self._ledger.unit(price.unit).to_steps(price.amount),
            price.unit,
            f"plan:{plan.id}",
            now,
        )

    def _grant_allowance(
        self,
        connection: Connection,
        holder: CustomerRow,
        state: _State,
        plan: Plan,
        moment: datetime,
        now: datetime,
    ) -> None:
        allowance = _allowance_of(plan)
        if allowance is None:
            state.allowance_index = None
            return
        index, end = _allowance_period(state, allowance, moment)
        if index == state.allowance_index:
            # A billing renewal inside an allowance period in force (a quarter's allowance on
            # monthly billing): granted already, at its start or by an upgrade's raise.
            return
        state.allowance_index = index
        if end <= now:
            return  # a period wholly in the past while catching up: nothing left to spend
        self._post_allowance(
            connection, holder, allowance,
            self._ledger.unit(allowance.unit).to_steps(allowance.amount), end, now,
            # The version is part of the key: a plan change that starts a new run of periods at
            # the very moment of the last one must still grant its own allowance.
            allowance_key(state.id, state.plan_version_id, self._run_stamp(state), index),
            {"allowance_period_end": end.isoformat(), "plan": plan.id},
        )  # fmt: skip

    def _post_allowance(
        self,
        connection: Connection,
        holder: CustomerRow,
        allowance: Allowance,
        steps: int,
        period_end: datetime,
        now: datetime,
        key: str,
        metadata: dict[str, Any],
    ) -> None:
        expires_at = period_end if allowance.expires is AllowanceExpiry.PERIOD_END else None
        self._ledger.post_grant(
            connection, holder, key, steps, allowance.unit, GrantSource.ALLOWANCE, expires_at,
            now, metadata, applies_to=allowance.applies_to,
        )  # fmt: skip

    def _plan_now(self, connection: Connection, holder: CustomerRow) -> Plan:
        row = repository.read_subscription(connection, holder.id)
        if row is None:
            return self._catalog.default_plan
        plan, _version = self._plan(connection, _State.from_row(row).plan_version_id)
        return plan

    def debt_limit(self, context: UnitOfWork, holder: CustomerRow, unit: str) -> int:
        """The ledger's debt-limit hook: the plan's ``debt_limit``, in its credit unit."""
        connection = context.connection
        plan = self._plan_now(connection, holder)
        if not plan.debt_limit or plan.credit_unit != unit:
            return 0
        return self._ledger.unit(unit).to_steps(plan.debt_limit)

    def default_budgets(
        self, context: UnitOfWork, holder: CustomerRow, kind: str, unit: str
    ) -> tuple[tuple[str, int], ...]:
        """The ledger's default-budgets hook: the plan's budgets for spenders of ``kind``."""
        connection = context.connection
        plan = self._plan_now(connection, holder)
        if kind not in plan.spender_budgets or plan.credit_unit != unit:
            return ()
        unit_ = self._ledger.unit(unit)
        return tuple(
            (period, 0 if amount == 0 else unit_.to_steps(amount))
            for period, amount in plan.spender_budgets[kind]
        )

    def headroom(self, context: UnitOfWork, holder: CustomerRow, unit: str) -> int | None:
        """The ledger's headroom hook: an unlimited allowance lifts the cap of every unit
        (catalog rule); pay-as-you-go overage allows its spend limit per overage period, less
        what this period has used; otherwise nothing beyond the grants."""
        connection, now = context.connection, context.now
        row = repository.read_subscription(connection, holder.id)
        if row is None:
            plan = self._catalog.default_plan
            return None if plan.allowance is UNLIMITED else 0
        state = _State.from_row(row)
        plan, _version = self._plan(connection, state.plan_version_id)
        if plan.allowance is UNLIMITED:
            return None
        overage = plan.overage
        if overage is None or overage.unit != unit:
            return 0
        if overage.spend_limit is UNLIMITED:
            return None
        start, end = self._overage_period(state, plan, now)
        start = self._stretch_start(connection, holder, start, end)
        used = self._overage_used(connection, holder, unit, start, end)
        return max(0, self._ledger.unit(unit).to_steps(overage.spend_limit) - used)

    def recorded(self, context: UnitOfWork, spends: Sequence[Spend]) -> None:
        """The ledger's ``recorded`` hook: overage corrections for periods already billed."""
        connection = context.connection
        overage_corrections.correct(self, connection, spends)

    def _overage_period(
        self, state: _State, plan: Plan, moment: datetime
    ) -> tuple[datetime, datetime]:
        """Overage is counted per allowance period (per billing period without an allowance)."""
        allowance = _allowance_of(plan)
        if allowance is None:
            return state.billing_bounds()
        return state.allowance_bounds_at(allowance, moment)

    def _overage_used(
        self, connection: Connection, holder: CustomerRow, unit: str, start: datetime, end: datetime
    ) -> int:
        issuance = self._ledger.system_account(ISSUANCE, unit)
        return ledger_repository.issued_on_demand(connection, holder.id, unit, issuance, start, end)

    def _bill_overage(
        self,
        connection: Connection,
        holder: CustomerRow,
        state: _State,
        plan: Plan,
        boundary: datetime,
        now: datetime,
    ) -> None:
        """At the close of an overage period: one billing line for the overage it used, priced
        once on the total (``price`` per ``per`` credits, rounded half up to the minor unit)."""
        if plan.overage is None:
            return
        start, end = self._overage_period(state, plan, boundary - timedelta(microseconds=1))
        require(
            end == boundary,
            "an overage period closes at its own boundary",
            f"ends {end.isoformat()}, boundary {boundary.isoformat()}",
        )
        self._bill_stretch(connection, holder, state, plan, start, end, now)

    def _close_stretch(
        self, connection: Connection, holder: CustomerRow, state: _State, now: datetime
    ) -> None:
        """Before the plan in force changes now (an upgrade, a cancel now, a fall back, a new
        run): the overage used since the overage period (or the last stretch) began is billed at
        the terms it was used under, so the next plan's close prices only its own stretch."""
        plan, _version = self._plan(connection, state.plan_version_id)
        if plan.overage is None:
            return
        start, _end = self._overage_period(state, plan, now)
        self._bill_stretch(connection, holder, state, plan, start, now, now)

    def _stretch_start(
        self, connection: Connection, holder: CustomerRow, start: datetime, end: datetime
    ) -> datetime:
        """Where the stretch ending by ``end`` began: the overage period's ``start``, or a
        later plan change whose stretch was billed then. A stretch that closed with no overage
        wrote no line; counting from ``start`` then adds nothing, as it used none."""
        closed_at = repository.last_overage_close(connection, holder.id, start, end)
        carried_at = repository.last_overage_carry(connection, holder.id, start, end)
        closes = [moment for moment in (closed_at, carried_at) if moment is not None]
        return max([start, *closes])

    def _bill_stretch(
        self,
        connection: Connection,
        holder: CustomerRow,
        state: _State,
        plan: Plan,
        start: datetime,
        end: datetime,
        now: datetime,
    ) -> None:
        overage = present(plan.overage, "a stretch is billed only on a plan with overage")
        start = self._stretch_start(connection, holder, start, end)
        used = self._overage_used(connection, holder, overage.unit, start, end)
        if used <= 0:
            return
        unit = self._ledger.unit(overage.unit)
        if overage.carry is OverageCarry.DEBT:
            post_overage_carry(
                self._ledger, connection, holder,
                overage_carry_key(state.id, self._stamp(end)), used, unit.name, now,
                {"plan": plan.id, "period_start": start.isoformat(), "period_end": end.isoformat()},
            )  # fmt: skip
            return
        price = present(overage.price, "overage billed in money has its price")
        self._bill(
            connection, holder, state, BillingLineKind.OVERAGE,
            f"{unit.to_quantity(used)} {unit.name} of overage on {plan.name}",
            price.amount_for(used, unit.scale), start, end,
            overage_key(state.id, self._stamp(end)), now,
        )  # fmt: skip

    def renew_due(self, context: UnitOfWork, holder: CustomerRow) -> datetime | None:
        """The due hook: advances the customer's subscription through every boundary up to
        ``now``, in order, and returns the next boundary."""
        connection, now = context.connection, context.now
        row = repository.read_subscription(connection, holder.id)
        if row is None:
            return None
        state = _State.from_row(row)
        self._announce_trial_ending(connection, holder, state, now)
        self._end_trial(state, now)
        renewed = False
        for _step in range(PERIODS_CAUGHT_UP_MAX):
            plan, _version = self._plan(connection, state.plan_version_id)
            boundary, billing_end, allowance_end = self._next_boundary(state, plan)
            if boundary > now:
                break
            if billing_end == boundary and self._awaits_invoice(connection, holder, state, plan):
                # The provider's paid invoice starts the next period; until then nothing is due
                # here (the period's allowance expires with its grants, at the period's end).
                self._save(connection, holder, state, now, lower_due=False)
                return None
            if allowance_end == boundary or (allowance_end is None and billing_end == boundary):
                self._bill_overage(connection, holder, state, plan, boundary, now)
                self._follow_time_zone(connection, holder, state, boundary)
            if allowance_end == boundary:
                self._roll_over(connection, holder, state, plan, boundary, now)
            if billing_end == boundary:
                previous = dataclasses.replace(state)
                self._close_billing_period(state, boundary)
                self._start_period(connection, holder, state, now, renewal=True)
                self._announce_renewal(connection, holder, previous, state, now)
                renewed = True
            else:
                plan, _version = self._plan(connection, state.plan_version_id)
                self._grant_allowance(connection, holder, state, plan, boundary, now)
        else:
            raise AssertionError(f"subscription {state.id} did not catch up to {now}")
        self._end_trial(state, now)
        self._save(connection, holder, state, now, lower_due=False)
        if renewed:
            self._collect(connection, holder, state, now)
        plan, _version = self._plan(connection, state.plan_version_id)
        return self._due_at(connection, state, plan)

    def _collect(
        self, connection: Connection, holder: CustomerRow, state: _State, now: datetime
    ) -> None:
        """After a renewal: the billing period now in force, when it is paid in money, is
        collected. The ledger runs due work at each boundary's own instant, so each period a
        late sweep catches up is renewed, and collected, in turn."""
        if self._collector is None:
            return
        period = self._paid_period(connection, state)
        if period is not None:
            self._collector.collect(connection, holder, period, now)

    @staticmethod
    def _end_trial(state: _State, now: datetime) -> None:
        """A trial is over at its end, whatever the billing period: the status says so."""
        if (
            state.status is SubscriptionStatus.TRIALING
            and state.trial_ends_at is not None
            and state.trial_ends_at <= now
        ):
            state.status = SubscriptionStatus.ACTIVE

    def _due_at(self, connection: Connection, state: _State, plan: Plan) -> datetime:
        """When the subscription next has work: its next boundary, its trial's end, or the
        moment its trial's end is announced."""
        moments = [self._next_boundary(state, plan)[0]]
        if state.status is SubscriptionStatus.TRIALING and state.trial_ends_at is not None:
            moments.append(state.trial_ends_at)
            if not event_exists(connection, self._trial_ending_event_id(state)):
                moments.append(self._trial_ending_at(state))
        return min(moments)

    @staticmethod
    def _trial_ending_at(state: _State) -> datetime:
        """The instant ``subscription.trial_ending`` belongs to: the notice before the trial's
        end, or the trial's start (its run's anchor) for a trial shorter than the notice."""
        trial_ends_at = present(state.trial_ends_at, "a trial that ends has its end")
        return max(trial_ends_at - timedelta(days=TRIAL_ENDING_NOTICE_DAYS), state.anchor_at)

    def _trial_ending_event_id(self, state: _State) -> str:
        # One per subscription and trial end: a trial restarted with another end is announced
        # again; the same one never twice, however many processes sweep.
        trial_ends_at = present(state.trial_ends_at, "a trial that ends has its end")
        return derived_event_id(f"trial_ending:{state.id}:{self._stamp(trial_ends_at)}")

    def _announce_trial_ending(
        self, connection: Connection, holder: CustomerRow, state: _State, now: datetime
    ) -> None:
        """``subscription.trial_ending`` once, written at its own instant (not when a sweep
        happens to look), for a trial still running at that instant."""
        if state.status is not SubscriptionStatus.TRIALING or state.trial_ends_at is None:
            return
        announced_at = self._trial_ending_at(state)
        event_id = self._trial_ending_event_id(state)
        if announced_at > now or event_exists(connection, event_id):
            return
        plan, version = self._plan(connection, state.plan_version_id)
        emit(
            connection,
            EventType.SUBSCRIPTION_TRIAL_ENDING,
            holder.id,
            {
                "plan": plan.id,
                "plan_version": version,
                "interval": state.interval.value,
                "trial_ends_at": state.trial_ends_at.isoformat(),
                "days_before": (state.trial_ends_at - announced_at).days,
            },
            announced_at,
            event_id=event_id,
        )

    def _awaits_invoice(
        self, connection: Connection, holder: CustomerRow, state: _State, plan: Plan
    ) -> bool:
        """Whether the billing period's end waits for a provider's invoice: a renewal of a
        plan paid in money that the provider collects. A cancellation or a change scheduled
        for the period's end takes effect on this clock, as it bills nothing."""
        price = plan.prices.get(state.interval)
        return (
            self._collector is not None
            and state.pay_with == PAY_WITH_MONEY
            and price is not None
            and price.amount_minor > 0
            and not state.cancel_at_period_end
            and state.scheduled_plan_version_id is None
            and self._collector.collects_by_invoice(connection, holder)
        )

    def renew_collected(
        self,
        connection: Connection,
        holder: CustomerRow,
        period: tuple[datetime, datetime] | None,
        now: datetime,
    ) -> bool:
        """Inside a write that holds the customer's lock: the provider's invoice for the
        billing ``period`` (start, end) is paid, so that period starts: the ending one's
        overage is billed and its allowance rolled over, the new one's fee line recorded (the
        provider collected it) and its allowance granted, once. The period is the next one of
        the run when its bounds are (or when the invoice names none); otherwise a new run
        starts at its start (the provider's anchor differs from ours). False, with nothing
        written, when that period (or a later one) is in force already."""
        row = repository.read_subscription(connection, holder.id)
        if row is None:
            return False
        state = _State.from_row(row)
        months = months_in(state.interval)
        if period is None:
            period = period_bounds(state.anchor_at, months, state.period_index + 1)
        period_start, period_end = period
        if period_end <= period_start:
            raise InvalidRequest("period_end", "must be after period_start")
        if state.billing_bounds()[0] >= period_start:
            return False
        plan, _version = self._plan(connection, state.plan_version_id)
        boundary, billing_end, allowance_end = self._next_boundary(state, plan)
        if billing_end == boundary:
            if allowance_end is None or allowance_end == boundary:
                self._bill_overage(connection, holder, state, plan, boundary, now)
                self._follow_time_zone(connection, holder, state, boundary)
            if allowance_end == boundary:
                self._roll_over(connection, holder, state, plan, boundary, now)
        previous = dataclasses.replace(state)
        index = (
            period_index_at(state.anchor_at, months, period_start)
            if period_start >= state.anchor_at
            else None
        )
        if index is not None and period_bounds(state.anchor_at, months, index) == (
            period_start,
            period_end,
        ):
            state.period_index = index
        else:
            state.rebase(period_start)
        self._start_period(connection, holder, state, now, renewal=True)
        self._announce_renewal(connection, holder, previous, state, now)
        self._save(connection, holder, state, now)
        return True

    @staticmethod
    def _follow_time_zone(
        connection: Connection, holder: CustomerRow, state: _State, boundary: datetime
    ) -> None:
        """Before the ending period rolls over: its rolled credits last the new run's period."""
        state.follow_time_zone(
            ledger_repository.customer_time_zone(connection, holder.id), boundary
        )

    @staticmethod
    def _next_boundary(state: _State, plan: Plan) -> tuple[datetime, datetime, datetime | None]:
        _start, billing_end = state.billing_bounds()
        allowance = _allowance_of(plan)
        allowance_end = None
        if allowance is not None and state.allowance_index is not None:
            allowance_end = state.allowance_bounds(allowance, state.allowance_index)[1]
        boundary = billing_end if allowance_end is None else min(billing_end, allowance_end)
        return boundary, billing_end, allowance_end

    def _close_billing_period(self, state: _State, boundary: datetime) -> None:
        if state.trial_ends_at is not None and boundary >= state.trial_ends_at:
            state.status = SubscriptionStatus.ACTIVE
        if state.cancel_at_period_end:
            state.cancel_at_period_end = False
            self._switch(
                state, self._version_for(self._catalog.default_plan.id), Interval.MONTH, boundary
            )
        elif state.scheduled_plan_version_id is not None:
            interval = present(
                state.scheduled_interval, "a scheduled plan change has its scheduled interval"
            )
            self._switch(state, state.scheduled_plan_version_id, interval, boundary)
            state.scheduled_plan_version_id = None
            state.scheduled_interval = None
        else:
            state.period_index += 1

    def _roll_over(
        self,
        connection: Connection,
        holder: CustomerRow,
        state: _State,
        plan: Plan,
        boundary: datetime,
        now: datetime,
        ends_at: datetime | None = None,
        key_kind: str = "rollover",
    ) -> None:
        """Carries what is left of the allowance period ending at ``boundary`` (its grants
        expiring at ``ends_at``, the boundary unless a reset ends the period early) into the
        next one, per the plan's rule; the rest expires with its grants."""
        allowance = _allowance_of(plan)
        if allowance is None or allowance.rollover.kind is RolloverKind.NONE:
            return
        unit = self._ledger.unit(allowance.unit)
        ending = [
            EndingGrant(account_id, remaining, rolled)
            for account_id, remaining, rolled in repository.allowance_grants_ending(
                connection, holder.id, unit.name, ends_at or boundary
            )
        ]
        carry = carried(allowance.rollover, unit, ending)
        # Rolled credits last ``expires_after_periods`` periods (one by default, rolling again).
        lasting = allowance.rollover.expires_after_periods or 1
        expires_at = state.allowance_bounds(
            allowance, state.allowance_index_at(allowance, boundary) + lasting - 1
        )[1]
        stamp = self._stamp(boundary)
        if carry.moves:
            self._ledger.post_rollover(
                connection, holder, rollover_key(key_kind, state.id, stamp),
                list(carry.moves), unit.name, expires_at, now,
            )  # fmt: skip
        if carry.top_up:
            self._ledger.post_grant(
                connection, holder, rollover_top_up_key(key_kind, state.id, stamp),
                carry.top_up, unit.name, GrantSource.ALLOWANCE, expires_at, now,
                {"rollover": True}, applies_to=allowance.applies_to,
            )  # fmt: skip

    def reset_period(self, customer: str, reason: str, idempotency_key: str) -> Subscription:
        """Ends the customer's allowance period now and starts a new one (an operator's manual
        reset): the overage used so far is billed or carried, the rollover applies as at a
        boundary, what it does not carry expires now, and the new period's allowance is
        granted; its per-period counters start again. One ``period_reset`` transaction, with
        ``reason``, in the customer's history. The billing period is left as it is.
        Idempotent: the same key again changes nothing and returns the subscription."""
        check_text(reason, "reason", REASON_LENGTH_MAX)
        check_text(idempotency_key, "idempotency_key", IDEMPOTENCY_KEY_LENGTH_MAX)

        def work(context: UnitOfWork) -> Subscription:
            connection, now = context.connection, context.now
            holder = context.customers[customer]
            row = repository.read_subscription(connection, holder.id)
            if row is None:
                raise InvalidRequest("customer", "has no subscription whose period to reset")
            state = _State.from_row(row)
            done = ledger_repository.find_transaction(connection, idempotency_key)
            if done is not None:
                if done.kind is not TransactionKind.PERIOD_RESET or done.customer_id != holder.id:
                    raise IdempotencyConflict(
                        idempotency_key, "operation", done.kind, "period_reset"
                    )
                return self._view(connection, holder.external_id, state)
            plan, _version = self._plan(connection, state.plan_version_id)
            allowance = _allowance_of(plan)
            if allowance is None or state.allowance_index is None:
                raise InvalidRequest("customer", f"plan {plan.id!r} has no allowance period")
            if state.allowance_anchor_at == now:
                raise InvalidRequest("customer", "its period was reset at this instant already")
            start, end = state.allowance_bounds(allowance, state.allowance_index)
            self._close_stretch(connection, holder, state, now)
            unit = allowance.unit
            # Read before the rollover: a period reset at its very start ends when the new one
            # does, and the rollover's grant must not expire with the grants it came from.
            ended = {
                account_id
                for account_id, _left, _rolled in repository.allowance_grants_ending(
                    connection, holder.id, unit, end
                )
            }
            state.allowance_anchor_at = now
            # A reset starts a new run: it counts in the zone the customer states now.
            state.allowance_time_zone = ledger_repository.customer_time_zone(connection, holder.id)
            self._roll_over(
                connection, holder, state, plan, now, now, ends_at=end, key_kind="reset-rollover"
            )
            expiring = [
                (account_id, remaining)
                for account_id, remaining, _rolled in repository.allowance_grants_ending(
                    connection, holder.id, unit, end
                )
                if remaining > 0 and account_id in ended
            ]
            post_period_reset(
                self._ledger, connection, holder, idempotency_key, expiring, unit, now,
                {"reason": reason, "period_start": start.isoformat(),
                 "period_end": end.isoformat()},
            )  # fmt: skip
            state.allowance_index = None
            self._grant_allowance(connection, holder, state, plan, now, now)
            self._save(connection, holder, state, now)
            return self._view(connection, holder.external_id, state)

        return self._ledger.locked_write([customer], work)

    # -- events ---------------------------------------------------------------------------------

    def _announce_renewal(
        self,
        connection: Connection,
        holder: CustomerRow,
        previous: _State,
        state: _State,
        now: datetime,
    ) -> None:
        """A new billing period: on the same plan a renewal; otherwise a change that took effect
        at the boundary (a cancellation, a scheduled change, or a period the balance could not
        pay in credits)."""
        if (previous.plan_version_id, previous.interval) == (state.plan_version_id, state.interval):
            event, reason = EventType.SUBSCRIPTION_RENEWED, "renewal"
        elif previous.cancel_at_period_end:
            event, reason = EventType.SUBSCRIPTION_CHANGED, "canceled"
        elif previous.scheduled_plan_version_id is not None:
            event, reason = EventType.SUBSCRIPTION_CHANGED, "scheduled_change"
        else:
            event, reason = EventType.SUBSCRIPTION_CHANGED, "unpaid"
        self._announce(connection, holder, event, previous, state, now, reason)

    def _announce(
        self,
        connection: Connection,
        holder: CustomerRow,
        event: EventType,
        previous: _State,
        state: _State,
        now: datetime,
        reason: str,
    ) -> None:
        """Writes the event in the change's transaction, unless nothing changed (a request
        repeated, or the plan already in force): the subscription as it now stands, the plan
        before, and why."""
        unchanged = previous.values(now) == state.values(now)
        if unchanged and event is not EventType.SUBSCRIPTION_RENEWED:
            return
        view = self._view(connection, holder.external_id, state)
        previous_plan, _version = self._plan(connection, previous.plan_version_id)
        emit(
            connection,
            event,
            holder.id,
            {
                "plan": view.plan,
                "plan_version": view.plan_version,
                "previous_plan": previous_plan.id,
                "interval": view.interval.value,
                "status": view.status.value,
                "current_period_start": view.current_period_start.isoformat(),
                "current_period_end": view.current_period_end.isoformat(),
                "cancel_at_period_end": view.cancel_at_period_end,
                "scheduled_plan": view.scheduled_plan,
                "pay_with": view.pay_with,
                "reason": reason,
            },
            now,
        )

    def alert_period(
        self, connection: Connection, holder: CustomerRow, moment: datetime
    ) -> tuple[str, datetime, datetime] | None:
        """The plan in force (its id) and the period that alerts fire once in: the allowance
        period containing ``moment``, or the billing period for a plan without an allowance.
        None for a customer without a subscription."""
        row = repository.read_subscription(connection, holder.id)
        if row is None:
            return None
        state = _State.from_row(row)
        plan, _version = self._plan(connection, state.plan_version_id)
        allowance = _allowance_of(plan)
        if allowance is None:
            start, end = state.billing_bounds()
        else:
            start, end = state.allowance_bounds_at(allowance, moment)
        return plan.id, start, end

    # -- rows -----------------------------------------------------------------------------------

    def _bill(
        self,
        connection: Connection,
        holder: CustomerRow,
        state: _State,
        kind: BillingLineKind,
        description: str,
        amount: Money,
        period_start: datetime | None,
        period_end: datetime | None,
        key: str,
        now: datetime,
    ) -> None:
        if amount.amount_minor == 0:
            return  # a line of nothing (a free plan's fee or unused time) is no line
        repository.insert_billing_line(
            connection,
            {
                "idempotency_key": key,
                "customer_id": holder.id,
                "subscription_id": state.id,
                "kind": kind.value,
                "description": description,
                "amount_minor": amount.amount_minor,
                "currency": amount.currency,
                "period_start": period_start,
                "period_end": period_end,
                "created_at": now,
            },
        )

    def _save(
        self,
        connection: Connection,
        holder: CustomerRow,
        state: _State,
        now: datetime,
        lower_due: bool = True,
    ) -> None:
        repository.update_subscription(connection, state.id, state.values(now))
        self._announce_trial_ending(connection, holder, state, now)
        if lower_due:
            plan, _version = self._plan(connection, state.plan_version_id)
            ledger_repository.lower_next_due_at(
                connection, holder.id, self._due_at(connection, state, plan)
            )

    @staticmethod
    def _stamp(moment: datetime) -> int:
        return to_epoch_microseconds(moment)

    @classmethod
    def _run_stamp(cls, state: _State) -> str:
        """Names the run of allowance periods: its anchor's, or (marked apart, as a reset may
        come at the very instant a run started) where an operator last reset it."""
        if state.allowance_anchor_at is None:
            return str(cls._stamp(state.anchor_at))
        return f"reset-{cls._stamp(state.allowance_anchor_at)}"

    # -- reads ----------------------------------------------------------------------------------

    def subscription(self, customer: str) -> Subscription | None:
        self._ledger.sweep_if_due(customer)
        with self._database.read() as connection:
            holder = ledger_repository.find_customer(connection, customer)
            if holder is None:
                raise UnknownCustomer(customer)
            row = repository.read_subscription(connection, holder.id)
            if row is None:
                return None
            return self._view(connection, customer, _State.from_row(row))

    def plan_of(self, customer: str) -> Plan:
        """The plan whose terms apply to the customer now: its subscription's version, or the
        catalog's default plan."""
        self._ledger.sweep_if_due(customer)
        with self._database.read() as connection:
            holder = ledger_repository.read_customer(connection, customer)
            row = repository.read_subscription(connection, holder.id)
            if row is None:
                return self._catalog.default_plan
            return self._plan(connection, row.plan_version_id)[0]

    def billing_lines(self, customer: str, limit: int = 50) -> tuple[BillingLine, ...]:
        if isinstance(limit, bool) or not isinstance(limit, int):
            raise InvalidRequest("limit", "must be an int")
        if not 1 <= limit <= BILLING_LINES_PAGE_MAX:
            raise InvalidRequest("limit", f"must be from 1 to {BILLING_LINES_PAGE_MAX}")
        self._ledger.sweep_if_due(customer)
        with self._database.read() as connection:
            holder = ledger_repository.read_customer(connection, customer)
            rows = repository.billing_lines_of(connection, holder.id, limit)
        return tuple(
            BillingLine(
                id=row.id,
                customer=customer,
                kind=BillingLineKind(row.kind),
                description=row.description,
                amount=Money(row.amount_minor, row.currency),
                period_start=row.period_start,
                period_end=row.period_end,
                created_at=row.created_at,
            )
            for row in rows
        )

    def _view(self, connection: Connection, customer: str, state: _State) -> Subscription:
        plan, version = self._plan(connection, state.plan_version_id)
        start, end = state.billing_bounds()
        allowance = _allowance_of(plan)
        allowance_start = allowance_end = None
        if allowance is not None and state.allowance_index is not None:
            allowance_start, allowance_end = state.allowance_bounds(
                allowance, state.allowance_index
            )
        scheduled = None
        if state.scheduled_plan_version_id is not None:
            scheduled = self._plan(connection, state.scheduled_plan_version_id)[0].id
        elif state.cancel_at_period_end:
            scheduled = self._catalog.default_plan.id
        return Subscription(
            customer=customer,
            plan=plan.id,
            plan_version=version,
            interval=state.interval,
            status=state.status,
            current_period_start=start,
            current_period_end=end,
            allowance_period_start=allowance_start,
            allowance_period_end=allowance_end,
            trial_ends_at=state.trial_ends_at,
            cancel_at_period_end=state.cancel_at_period_end,
            scheduled_plan=scheduled,
            scheduled_interval=state.scheduled_interval
            if state.scheduled_plan_version_id is not None
            else None,
            pay_with=state.pay_with,
        )
