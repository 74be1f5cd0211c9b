"""A plan and its parts, as the catalog declares them: prices, the allowance and its rollover,
limits, overage, alerts and the refund policy.

Everything here is immutable data. Quantities of a unit are ``int`` for a unit of scale 0 and
``Decimal`` (at exactly the unit's scale) otherwise, as the ledger gives them back; money is
``Money`` (integer minor units). ``UNLIMITED`` is a value of its own wherever a plan may say
"no cap", so no code ever has to remember that -1 meant "unlimited".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum, StrEnum
from types import MappingProxyType
from typing import Any, Final, Literal

from creditkit.errors import Quantity
from creditkit.ledger.schemas import Money


class Unlimited(Enum):
    """The type of ``UNLIMITED``: one member, so ``value is UNLIMITED`` narrows the type."""

    UNLIMITED = "unlimited"

    def __repr__(self) -> str:
        return "UNLIMITED"


UNLIMITED: Final = Unlimited.UNLIMITED

#: A cap that may be lifted: a whole number, or ``UNLIMITED``.
CountOrUnlimited = int | Literal[Unlimited.UNLIMITED]

#: A quantity of a unit that may be lifted.
QuantityOrUnlimited = Quantity | Literal[Unlimited.UNLIMITED]


class Interval(StrEnum):
    """A billing interval: how often a subscription is paid."""

    MONTH = "month"
    YEAR = "year"


class Period(StrEnum):
    """How often an allowance is granted or a per-period counter resets. Separate from the
    billing interval: a yearly subscription may still get its credits month by month, or a
    monthly one hour by hour."""

    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"


class Anchor(StrEnum):
    """Where an allowance's or a counter's periods start: on the subscription's anniversary
    (its start, then every period after it), or on the calendar (each hour, midnight, Monday,
    the 1st of a month, of a quarter, of a year, in the stated time zone)."""

    ANNIVERSARY = "anniversary"
    CALENDAR = "calendar"


class OverageCarry(StrEnum):
    """What a period's overage becomes at the period's end: billed in money (no carry), or
    owed as debt that the next period's allowance repays first."""

    DEBT = "debt"


class RolloverKind(StrEnum):
    NONE = "none"
    ALL = "all"
    CAPPED = "capped"


class AllowanceExpiry(StrEnum):
    """When a period's allowance credits stop counting."""

    PERIOD_END = "period_end"
    NEVER = "never"


class LimitKind(StrEnum):
    #: A count of live things (tasks, agents, team members): acquired and released.
    COUNT = "count"
    #: A counter that resets every period (scheduled posts per month).
    PER_PERIOD = "per_period"


@dataclass(frozen=True, slots=True)
class Price:
    """A metered price: ``money`` for every ``per`` whole units of a unit.

    Why ``per``: real overage prices are fractions of a cent per credit ($5 per 1,000 credits is
    half a cent each). ``Money(500, "USD")`` per 1,000 keeps that exact in integers; the bill
    for a quantity is computed once, on the total, by the billing code.
    """

    money: Money
    per: int = 1

    def amount_for(self, steps: int, scale: int) -> Money:
        """The price of ``steps`` smallest steps of a unit of ``scale`` decimal places, priced
        once on the total and rounded half up to the minor unit (the project's one rounding
        rule for money)."""
        per_steps = self.per * 10**scale
        amount = (2 * self.money.amount_minor * steps + per_steps) // (2 * per_steps)
        return Money(amount, self.money.currency)


@dataclass(frozen=True, slots=True)
class Credits:
    """A quantity of one unit: what a plan costs when paid from the credit balance."""

    amount: Quantity
    unit: str


@dataclass(frozen=True, slots=True)
class Rollover:
    """What happens to a period's unused allowance at the period's end: nothing carries over,
    all of it does, or at most ``cap`` (in the allowance's unit).

    The mapping form refines it: ``fraction`` (in (0, 1]) of each ending grant's remainder
    carries, rounded down to the unit's step; ``max_per_grant`` bounds what one grant carries,
    ``min_per_grant`` tops each of the period's own allowance grants up to at least that much;
    ``cap`` bounds the total; ``expires_after_periods`` (K) makes rolled credits last K periods
    and never roll again (None: they roll again, as the allowance's own credits do)."""

    kind: RolloverKind
    cap: Quantity | None = None
    fraction: Decimal | None = None
    expires_after_periods: int | None = None
    min_per_grant: Quantity | None = None
    max_per_grant: Quantity | None = None

    @property
    def is_refined(self) -> bool:
        """Whether it uses any of the mapping form's refinements beyond a cap."""
        return (
            self.fraction is not None
            or self.expires_after_periods is not None
            or self.min_per_grant is not None
            or self.max_per_grant is not None
        )


ROLLOVER_NONE: Final = Rollover(RolloverKind.NONE)


@dataclass(frozen=True, slots=True)
class Allowance:
    """Credits a plan grants every ``period``."""

    amount: Quantity
    unit: str
    period: Period = Period.MONTH
    rollover: Rollover = ROLLOVER_NONE
    anchor: Anchor = Anchor.ANNIVERSARY
    #: An IANA zone ("Europe/Paris") that days, weeks and calendar periods are counted in;
    #: None: UTC.
    time_zone: str | None = None
    expires: AllowanceExpiry = AllowanceExpiry.PERIOD_END
    #: The actions or categories the allowance's credits may pay for (None: any spending).
    applies_to: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class Limit:
    """A cap on a counted resource: a live ``count``, or a counter per ``period``.
    ``value`` 0 means the plan does not allow the resource at all."""

    kind: LimitKind
    value: CountOrUnlimited
    period: Period | None = None
    anchor: Anchor = Anchor.ANNIVERSARY
    time_zone: str | None = None

    @property
    def is_unlimited(self) -> bool:
        return self.value is UNLIMITED


@dataclass(frozen=True, slots=True)
class Overage:
    """Pay-as-you-go once a customer's credits run out: ``price`` per credit of ``unit``, at most
    ``spend_limit`` credits of overage per allowance period."""

    unit: str
    #: None only with ``carry: debt``: carried overage is owed in credits, never billed.
    price: Price | None
    spend_limit: QuantityOrUnlimited
    #: None: the period's overage is billed in money; DEBT: it is owed into the next period.
    carry: OverageCarry | None = None


@dataclass(frozen=True, slots=True)
class PlanAlerts:
    """When to warn a plan's customers that their credits run low, each at most once per period
    (see docs/notify.md): when ``credits_left`` or fewer of ``unit`` are left (``credits.low``),
    and when each of ``percent_used`` percent of the period's allowance is used
    (``alert.triggered``)."""

    unit: str
    credits_left: Quantity | None = None
    percent_used: tuple[int, ...] = ()


def frozen_empty() -> Mapping[Any, Any]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class PlanRefund:
    """A plan's money-back guarantee: a payment for the plan is refunded in full within
    ``window_days`` of succeeding; with ``first_purchase_only``, only the customer's first
    payment for any plan (a guarantee for newcomers, not a way to pay for months and give them
    back)."""

    window_days: int
    first_purchase_only: bool = False


@dataclass(frozen=True, slots=True)
class Plan:
    """A tier.

    ``rank`` orders plans, higher is a better tier: it tells an upgrade from a downgrade and
    finds "the cheapest plan that allows X". ``prices`` is empty for a plan not sold
    self-serve (a free default, or a custom contract). ``allowance`` is ``None`` for no
    credits, or ``UNLIMITED`` for a plan whose customers are never refused for lack of credits
    (their usage is still recorded).
    """

    id: str
    name: str
    rank: int
    is_default: bool = False
    description: str | None = None
    prices: Mapping[Interval, Money] = field(default_factory=frozen_empty)
    prices_in_credits: Mapping[Interval, Credits] = field(default_factory=frozen_empty)
    allowance: Allowance | Literal[Unlimited.UNLIMITED] | None = None
    features: tuple[str, ...] = ()
    limits: Mapping[str, Limit] = field(default_factory=frozen_empty)
    quotas: Mapping[str, CountOrUnlimited] = field(default_factory=frozen_empty)
    overage: Overage | None = None
    rate_limit_per_minute: int | None = None
    #: Not part of the plan's terms (what a subscriber pays and gets): editing alerts makes no
    #: new plan version, and every subscriber of the plan gets the catalog's alerts as loaded.
    alerts: PlanAlerts | None = None
    #: Not part of the plan's terms either: the store's refund policy as loaded applies.
    refund: PlanRefund | None = None
    #: How far below zero a subscriber may go on purpose (``allow_debt``), in the allowance's
    #: unit (``credits`` without one); 0: no debt. A customer's own limit overrides it.
    debt_limit: Quantity = 0
    #: Default budgets per spender kind (every ``member``: 500 a month): kind -> (period,
    #: amount) each, in the allowance's unit. A spender's own budget for a period overrides.
    spender_budgets: Mapping[str, tuple[tuple[str, Quantity], ...]] = field(
        default_factory=frozen_empty
    )

    @property
    def credit_unit(self) -> str:
        """The unit the plan's debt limit and default budgets are written in."""
        return self.allowance.unit if isinstance(self.allowance, Allowance) else "credits"

    @property
    def currency(self) -> str | None:
        """The one currency of the plan's prices (the loader checks they share it)."""
        for money in self.prices.values():
            return money.currency
        return None

    def has_feature(self, feature: str) -> bool:
        return feature in self.features

    def units_used(self) -> frozenset[str]:
        """Every unit the plan's terms are written in."""
        names = {credits.unit for credits in self.prices_in_credits.values()}
        if isinstance(self.allowance, Allowance):
            names.add(self.allowance.unit)
        if self.overage is not None:
            names.add(self.overage.unit)
        return frozenset(names)
