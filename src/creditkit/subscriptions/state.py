"""A subscription as its writes advance it: the row read into memory, its periods' bounds, and
the one rounding rule of proration."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from creditkit.catalog import Allowance, Interval, Plan
from creditkit.errors import present, require
from creditkit.store.tables import to_epoch_microseconds
from creditkit.subscriptions.periods import Cadence, months_in, period_bounds
from creditkit.subscriptions.schemas import SubscriptionStatus

#: ``subscription.trial_ending`` fires this many days before a trial ends (as Stripe's
#: ``customer.subscription.trial_will_end``), or when a shorter trial starts.
TRIAL_ENDING_NOTICE_DAYS = 3
PAY_WITH_CREDITS = "credits"


def stamp(moment: datetime) -> int:
    """``moment`` as it is written into derived keys: microseconds since the epoch."""
    return to_epoch_microseconds(moment)


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
class SubscriptionState:
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
    def from_row(cls, row: Any) -> SubscriptionState:
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

    def switch(self, version_id: int, interval: Interval, at: datetime) -> None:
        """Puts the subscription on ``version_id`` by ``interval`` as a new run from ``at``."""
        self.plan_version_id = version_id
        self.interval = interval
        self.rebase(at)

    def end_trial(self, now: datetime) -> None:
        """A trial is over at its end, whatever the billing period: the status says so."""
        if (
            self.status is SubscriptionStatus.TRIALING
            and self.trial_ends_at is not None
            and self.trial_ends_at <= now
        ):
            self.status = SubscriptionStatus.ACTIVE

    def next_boundary(self, plan: Plan) -> tuple[datetime, datetime, datetime | None]:
        """The next boundary, and the billing and allowance periods' ends (None: no allowance
        period running)."""
        _start, billing_end = self.billing_bounds()
        allowance = allowance_of(plan)
        allowance_end = None
        if allowance is not None and self.allowance_index is not None:
            allowance_end = self.allowance_bounds(allowance, self.allowance_index)[1]
        boundary = billing_end if allowance_end is None else min(billing_end, allowance_end)
        return boundary, billing_end, allowance_end

    def trial_ending_at(self) -> datetime:
        """The instant ``subscription.trial_ending`` belongs to: the notice before the trial's
        end, or the trial's start (its run's anchor) for a trial shorter than the notice."""
        trial_ends_at = present(self.trial_ends_at, "a trial that ends has its end")
        return max(trial_ends_at - timedelta(days=TRIAL_ENDING_NOTICE_DAYS), self.anchor_at)

    def run_stamp(self) -> str:
        """Names the run of allowance periods: its anchor's, or (marked apart, as a reset may
        come at the very instant a run started) where an operator last reset it."""
        if self.allowance_anchor_at is None:
            return str(stamp(self.anchor_at))
        return f"reset-{stamp(self.allowance_anchor_at)}"


def allowance_of(plan: Plan) -> Allowance | None:
    return plan.allowance if isinstance(plan.allowance, Allowance) else None


def allowance_period(
    state: SubscriptionState, allowance: Allowance, moment: datetime
) -> tuple[int, datetime]:
    """The index and end of the allowance period that contains ``moment``."""
    index = state.allowance_index_at(allowance, moment)
    return index, state.allowance_bounds(allowance, index)[1]
