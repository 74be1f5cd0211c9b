"""Analytics' value types: what the operator's console reads.

Money is ``Money`` (integer minor units of one currency), never a float, and never summed across
currencies: a figure that may span several is a ``dict`` by currency code. Credits are exact
quantities of the figures' unit (``int`` for a unit of scale 0, ``Decimal`` otherwise). Shares
are ``Decimal`` fractions rounded by ``creditkit.usage.schemas.share``, the one rounding rule
of shares.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from creditkit.errors import Quantity
from creditkit.ledger.schemas import CustomerKind, Money
from creditkit.usage.schemas import UsageGroup


@dataclass(frozen=True, slots=True)
class ItemRevenue:
    """What one plan or pack brought in over the range, in one currency.

    ``paid`` is what the ``payments`` that succeeded in the range paid (after discounts);
    ``refunded`` is what refunds made in the range gave back, whenever the refunded payment was
    made; ``net`` is ``paid`` less ``refunded`` (negative when refunds of earlier payments
    outweigh the range's sales).
    """

    item: str
    currency: str
    payments: int
    paid: Money
    refunded: Money
    net: Money


@dataclass(frozen=True, slots=True)
class Conversion:
    """Free to paid: of the ``customers`` put on the catalog's plans, the ``paying`` ones: on a
    paid plan now (active or past due, paid in money), or who have ever paid money for anything
    (a plan, a pack, a top-up; refunded since or not). ``share`` is ``paying / customers``
    (None without customers).

    Why: every customer ``create_customer`` subscribes starts on the default (free) plan, so
    the customers with a subscription are the funnel's base; members created without one use
    their workspace's plan and are not in it. A pack counts as converting as much as a tier:
    seed 001 sells packs ("free trial -> paid package"), seed 002 tiers.
    """

    customers: int
    paying: int
    share: Decimal | None


@dataclass(frozen=True, slots=True)
class Analytics:
    """The operator's figures: point-in-time ones as of ``as_of`` (the clock when read, after
    every customer's due work was done), and flows over ``[start, end)``. Each field says what
    it is and why it is defined so; docs/analytics.md says more.
    """

    unit: str
    start: datetime
    end: datetime
    as_of: datetime
    #: Monthly recurring revenue by currency (every currency of the catalog's plans present):
    #: active and past-due subscriptions paid in money, at their plan version's price (what
    #: they were sold), a yearly price counting a twelfth. Past due counts, as the operator
    #: still expects to collect it (and as Stripe's MRR counts it) until the grace period ends;
    #: a trial does not, as it pays nothing yet. The annual sum is divided by 12 once, rounded
    #: half up, so no per-subscription rounding accumulates.
    mrr: dict[str, Money]
    #: The annual sum itself (12 monthly prices, or one yearly price, per subscription): exact,
    #: not 12 times the rounded ``mrr``.
    arr: dict[str, Money]
    #: Subscriptions per plan (trialing and past due included), every catalog plan present: the
    #: tier mix the operator sells to.
    subscribers_by_plan: dict[str, int]
    #: Free to paid, now: see ``Conversion``.
    conversion: Conversion
    #: Unspent credits of live grants (started, not expired), all customers together: what they
    #: may still spend. Credits an unlimited plan issues as they are spent are never a balance,
    #: so they are no part of it.
    credits_available: Quantity
    #: Credits set aside by active holds: still the customers' until committed (a release gives
    #: them back), so part of the liability.
    credits_held: Quantity
    #: ``credits_available + credits_held``: the liability, equal to what every customer's
    #: ``balance`` (available plus held) adds up to.
    credits_outstanding: Quantity
    #: Plans' revenue over the range (checkouts and renewals), from the payments themselves:
    #: cash received, discounts deducted, refunds counted when made. Every priced catalog plan
    #: present, zero included, in catalog order; then anything else sold.
    revenue_by_plan: tuple[ItemRevenue, ...]
    #: Packs' revenue (checkouts and auto top-ups), likewise; every catalog pack present.
    revenue_by_pack: tuple[ItemRevenue, ...]
    #: Overage statements by currency, counted when their overage period closed, in
    #: ``(start, end]``: post-paid usage is revenue once billed, and a period closing at ``end``
    #: is the range's (as its breakage is).
    overage_billed: dict[str, Money]
    #: By currency: the net of plans and packs plus the overage billed; what margin is taken of.
    revenue: dict[str, Money]
    #: Credits spent by charges and hold commits in the range (``charges`` of them): what the
    #: operator served, as ``usage_summary`` counts ``spent``.
    consumed: Quantity
    charges: int
    #: ``consumed`` per action, largest first, the ``ACTION_GROUPS_MAX`` largest (``consumed``
    #: counts every action): where the credits, and the cost of serving them, went.
    consumed_by_action: tuple[UsageGroup, ...]
    #: ``consumed`` per kind of spender that spent (``agent``, ``api_key``, ``member``…; key
    #: None: customers spending for themselves), largest first: how much goes through agents.
    consumed_by_spender_kind: tuple[UsageGroup, ...]
    #: Breakage: credits that stopped counting unspent, as ``usage_summary`` counts ``expired``
    #: (a grant's remainder at its ``expires_at`` in ``(start, end]``, and credits held from a
    #: grant that expired while held): revenue kept for nothing served.
    expired: Quantity
    #: ``consumed`` times the unit's catalog ``cost``, priced once on the total and rounded half
    #: up to the minor unit, as an overage bill is. None when the unit has no cost.
    cost_of_consumed: Money | None
    #: ``revenue`` in the cost's currency less ``cost_of_consumed`` (other currencies are not
    #: converted: exchange rates are not creditkit's to choose). None without a cost.
    margin: Money | None
    #: ``margin / revenue`` in the cost's currency; None without a cost or without revenue.
    margin_share: Decimal | None


@dataclass(frozen=True, slots=True)
class CustomerOverview:
    """One customer as the console lists it: its external ``id``, ``kind``, when it was created,
    the ``plan`` it is subscribed to (None without a subscription) and its ``available``
    credits of the listing's unit now (as ``balance`` gives them)."""

    id: str
    kind: CustomerKind
    created_at: datetime
    plan: str | None
    available: Quantity


@dataclass(frozen=True, slots=True)
class CustomerPage:
    items: tuple[CustomerOverview, ...]
    #: Pass as ``cursor`` to get the next (older) page; ``None`` on the last page.
    next_cursor: str | None
