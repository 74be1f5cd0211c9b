"""Usage's value types: what the dashboards read.

Every amount is a quantity of the view's unit, exact (``int`` for a unit of scale 0, ``Decimal``
otherwise), as the ledger gives them back. Shares are ``Decimal`` fractions (``0.25`` is 25%)
rounded half up to ``SHARE_PLACES`` decimal places: the one rounding rule of this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Final

from creditkit.errors import Quantity
from creditkit.ledger.schemas import GrantSource

#: Shares are given to 1/10,000 (a hundredth of a percent).
SHARE_PLACES: Final = 4


def share(part: int, whole: int) -> Decimal | None:
    """``part / whole`` rounded half up to ``SHARE_PLACES`` places; None when ``whole`` is 0."""
    if whole == 0:
        return None
    return (Decimal(part) / Decimal(whole)).quantize(
        Decimal(1).scaleb(-SHARE_PLACES), rounding=ROUND_HALF_UP
    )


class BreakdownBy(StrEnum):
    """What ``usage_breakdown`` groups spending by."""

    #: The charge's action (``ask_anything``); charges without one are the ``None`` group.
    ACTION = "action"
    #: The catalog category of the charge's action; actions without one (or not in the catalog)
    #: are the ``None`` group.
    CATEGORY = "category"
    #: The workspace member the charge named; charges naming none are the ``None`` group.
    MEMBER = "member"
    #: The value of one key of the charge's ``metadata`` (the ``dimension`` asked, such as
    #: ``"agent"``), as text: a string as it is, a number as its decimal text. Charges without
    #: the key, or with another kind of value (true, null, a list, an object), are the ``None``
    #: group. A hold's commit counts with its own metadata's value, else the hold's (what
    #: ``reserve`` was given).
    DIMENSION = "dimension"
    #: The spender that spent (a member, an API key, an agent: ``create_spender``); spending by
    #: the customer itself is the ``None`` group. Each group carries the spender's ``kind``.
    SPENDER = "spender"


class Granularity(StrEnum):
    """The width of a ``usage_series`` point: one UTC hour or one UTC day."""

    HOUR = "hour"
    DAY = "day"


@dataclass(frozen=True, slots=True)
class UsageSummary:
    """A customer's credits of one unit over one period ``[period_start, period_end)``, and its
    balance now.

    ``spent`` is what charges and hold commits took in the period (``charges`` of them),
    beyond-the-grants spending included; ``overage`` is the part of it issued beyond the grants
    (pay-as-you-go overage, or what an unlimited plan issued as it was spent). ``granted`` is what
    grants gave in the period (a transfer received counts as the ``gift`` it became; a rollover
    moves credits and grants none), by source in ``granted_by_source``; ``expired`` is what stopped
    counting unspent; ``transferred_out`` what the customer gave to others. ``allowance`` is the
    period's allowance grants, ``allowance_spent`` what of them is used (the allowance less what
    its grants still hold: spending bought or gifted credits uses none of it) and
    ``allowance_used`` ``allowance_spent / allowance``, from 0 to 1 (None without an allowance,
    and None on an unlimited plan, whose customers have no share of anything to run out of):
    the share the percent-used alerts fire at (``creditkit.usage.allowance``).

    ``available``, ``held``, ``unlimited`` and ``overage_available`` are as ``balance`` gives them,
    read in the same snapshot as the period's figures.

    With ``spender``, ``spent``, ``charges`` and ``overage`` count that spender's spending only
    (``subtree``: and that of every spender under it); every other figure is the customer's.
    """

    customer: str
    unit: str
    period_start: datetime
    period_end: datetime
    spent: Quantity
    charges: int
    granted: Quantity
    granted_by_source: dict[GrantSource, Quantity]
    expired: Quantity
    transferred_out: Quantity
    overage: Quantity
    allowance: Quantity
    allowance_spent: Quantity
    allowance_used: Decimal | None
    available: Quantity
    held: Quantity
    unlimited: bool
    overage_available: Quantity
    as_of: datetime
    spender: str | None = None
    subtree: bool = False


@dataclass(frozen=True, slots=True)
class UsageGroup:
    """Spending of one action, category, member, dimension value or spender. ``key`` None
    gathers the charges that name none; ``label`` is the catalog's label of an action (None
    otherwise); ``share`` is this group's part of the breakdown's total spending; ``kind`` is
    the spender's kind (``agent``, ``member``…) in a breakdown by spender (None otherwise)."""

    key: str | None
    label: str | None
    spent: Quantity
    charges: int
    share: Decimal | None
    kind: str | None = None


@dataclass(frozen=True, slots=True)
class UsageBreakdown:
    """Spending in ``[start, end)`` grouped ``by`` one dimension, largest first (ties: more
    charges first, then by key, None last), at most ``limit`` groups; ``others_spent`` and
    ``others_charges`` total the groups left out, so the groups and the others add up to
    ``spent`` and ``charges``. ``dimension`` is the metadata key grouped by when ``by`` is
    ``dimension`` (None otherwise). With ``spender``, only that spender's spending is counted
    (``subtree``: and that of every spender under it), groups and totals alike."""

    customer: str
    unit: str
    by: BreakdownBy
    start: datetime
    end: datetime
    groups: tuple[UsageGroup, ...]
    others_spent: Quantity
    others_charges: int
    spent: Quantity
    charges: int
    dimension: str | None = None
    spender: str | None = None
    subtree: bool = False


@dataclass(frozen=True, slots=True)
class UsagePoint:
    """Spending in ``[start, end)``: one UTC day or hour, cut to the series' range at its ends."""

    start: datetime
    end: datetime
    spent: Quantity
    charges: int


@dataclass(frozen=True, slots=True)
class UsageSeries:
    """Spending in ``[start, end)`` per UTC day or hour, oldest first, every one present (zero
    when nothing was spent)."""

    customer: str
    unit: str
    granularity: Granularity
    start: datetime
    end: datetime
    points: tuple[UsagePoint, ...]
    spent: Quantity
    charges: int


@dataclass(frozen=True, slots=True)
class ModelUsageLine:
    """One model's calls in a range: their tokens by kind, the model's cost in USD (exact, as
    priced), the credits spent on them, and the spender that spent most on it (None: the
    customer itself)."""

    model: str
    provider: str | None
    calls: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cost_usd: Decimal
    spent: Quantity
    top_spender: str | None


@dataclass(frozen=True, slots=True)
class ModelUsage:
    """Usage by model in [start, end) of one unit, the costliest model (most credits spent)
    first. ``complete`` is false when the range held more priced calls than one read sums."""

    unit: str
    start: datetime
    end: datetime
    models: tuple[ModelUsageLine, ...]
    complete: bool = True


@dataclass(frozen=True, slots=True)
class EventAccepted:
    """A usage event the events stream acknowledged (``serve --events``): it will be charged
    once by an ingest worker, or parked and announced by an ``event.refused`` webhook."""

    idempotency_key: str
