"""Subscriptions' value types."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from creditkit.catalog import Interval
from creditkit.ledger.schemas import Money


class SubscriptionStatus(StrEnum):
    TRIALING = "trialing"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    CANCELED = "canceled"


class AllowanceOnUpgrade(StrEnum):
    """What an upgrade grants for the rest of the allowance period: the difference between the
    two plans' allowances (seed 002's "upgrade bonus"), the new plan's full allowance, or
    nothing until the next period."""

    DIFFERENCE = "difference"
    FULL = "full"
    NONE = "none"


class BillingLineKind(StrEnum):
    SUBSCRIPTION = "subscription"
    PRORATION = "proration"
    OVERAGE = "overage"


@dataclass(frozen=True, slots=True)
class Subscription:
    """A customer on a plan version. ``plan_version`` stays what the customer signed up for
    while the catalog changes (grandfathering), until the customer changes plan."""

    customer: str
    plan: str
    plan_version: int
    interval: Interval
    status: SubscriptionStatus
    current_period_start: datetime
    current_period_end: datetime
    allowance_period_start: datetime | None
    allowance_period_end: datetime | None
    trial_ends_at: datetime | None
    cancel_at_period_end: bool
    scheduled_plan: str | None
    scheduled_interval: Interval | None
    #: ``"money"``: each period's fee is a billing line; ``"credits"``: paid from the balance.
    pay_with: str = "money"


@dataclass(frozen=True, slots=True)
class BillingLine:
    """Money the customer owes: a period's fee, an upgrade's proration, a period's overage.
    Payments (creditkit.payments) turn these into invoices."""

    id: int
    customer: str
    kind: BillingLineKind
    description: str
    amount: Money
    period_start: datetime | None
    period_end: datetime | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class PaidPeriod:
    """A billing period paid in money: what a renewal payment pays for."""

    subscription_id: int
    plan: str
    interval: Interval
    status: SubscriptionStatus
    #: Where the run of periods began (a checkout's payment, a plan change at a boundary).
    anchor_at: datetime
    start: datetime
    end: datetime
    price: Money
