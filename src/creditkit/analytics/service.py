"""Analytics: the operator's figures (revenue, recurring revenue, conversion, the credit
liability, consumption, breakage, margin) and the console's customer search.

Every figure is an aggregate computed by the database over the whole ledger; Python only
combines the few rows that come back (one per plan version, item, currency or action), so the
cost of a call does not grow with the number of customers. The figures are read in one snapshot,
after the due work of every customer has been done (as every read of creditkit does it first),
so they agree with what ``balance``, ``usage_summary`` and ``receipts`` say of each customer.
docs/analytics.md says why each figure is defined as it is.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

import sqlalchemy as sa

from creditkit.analytics import repository
from creditkit.analytics.repository import RevenueGroup, SubscriptionGroup
from creditkit.analytics.schemas import (
    Analytics,
    Conversion,
    CustomerOverview,
    CustomerPage,
    ItemRevenue,
)
from creditkit.catalog import Catalog, Interval, Plan
from creditkit.clock import Clock
from creditkit.errors import InvalidRequest, present
from creditkit.ledger.checks import EXTERNAL_ID_LENGTH_MAX, check_range
from creditkit.ledger.schemas import CustomerKind, Money, Unit
from creditkit.ledger.service import LedgerService
from creditkit.ledger.values import EXPIRY, ISSUANCE
from creditkit.payments.schemas import PaymentStatus
from creditkit.store.database import Database
from creditkit.subscriptions.collection import PAY_WITH_MONEY
from creditkit.subscriptions.schemas import SubscriptionStatus
from creditkit.subscriptions.service import SubscriptionService
from creditkit.usage import breakdown_repository
from creditkit.usage import repository as usage_repository
from creditkit.usage.schemas import UsageGroup, share

#: A year, a leap day included: the longest range a console compares.
RANGE_DAYS_MAX: Final = 366
#: Actions listed in ``consumed_by_action``; the totals count every action.
ACTION_GROUPS_MAX: Final = 500
#: Kinds of spender listed in ``consumed_by_spender_kind`` (kinds are the host app's few words).
SPENDER_KIND_GROUPS_MAX: Final = 50
CUSTOMER_PAGE_MAX: Final = 200
CUSTOMER_CURSOR_PREFIX: Final = "c"
#: The largest id a table holds (a signed 64-bit integer): a larger one in a cursor is no id.
ID_MAX: Final = 2**63 - 1
MONTHS_PER_YEAR: Final = 12
#: Subscriptions counted as recurring revenue and as paying. Past due counts until the grace
#: period ends (the subscription then falls back to the default plan): the operator expects to
#: collect it, as Stripe's and ChartMogul's MRR count it. A trial pays nothing yet.
PAYING_STATUSES: Final = (SubscriptionStatus.ACTIVE.value, SubscriptionStatus.PAST_DUE.value)
#: Subscriptions counted as subscribers of their plan: every one but a canceled one.
SUBSCRIBED_STATUSES: Final = (
    SubscriptionStatus.TRIALING.value,
    SubscriptionStatus.ACTIVE.value,
    SubscriptionStatus.PAST_DUE.value,
)
REFUNDED_STATUSES: Final = (PaymentStatus.REFUNDING.value, PaymentStatus.REFUNDED.value)
MONTHS_PER_INTERVAL: Final = {Interval.MONTH: 1, Interval.YEAR: MONTHS_PER_YEAR}


def _by_action(
    action: sa.ColumnElement[Any],
    _member: sa.ColumnElement[Any],
    _spender: sa.ColumnElement[Any],
) -> sa.ColumnElement[Any]:
    """What ``consumed_by_action`` groups spending by."""
    return action


def _divided_half_up(amount: int, divisor: int) -> int:
    """``amount / divisor`` rounded half up, in integers (``amount`` ≥ 0): the project's one
    rounding rule for money."""
    return (2 * amount + divisor) // (2 * divisor)


def _annual_price(plan: Plan, interval: str) -> Money | None:
    """What a year of the plan by ``interval`` costs, in minor units: 12 monthly prices, or the
    yearly price. Kept annual so that a monthly figure is divided once, at the end."""
    interval_ = Interval(interval)
    price = plan.prices.get(interval_)
    if price is None:
        return None
    periods_per_year = MONTHS_PER_YEAR // MONTHS_PER_INTERVAL[interval_]
    return Money(price.amount_minor * periods_per_year, price.currency)


@dataclass(frozen=True, slots=True)
class _Sums:
    """What the database summed for one ``analytics`` call, in steps and minor units."""

    subscriptions: list[SubscriptionGroup]
    plans: dict[int, Plan]
    customers: int
    paying: int
    available: int
    held: int
    revenue: list[RevenueGroup]
    overage: dict[str, int]
    spent_by_action: list[tuple[str | None, int, int]]
    spent_by_spender_kind: list[tuple[str | None, int, int]]
    spent: int
    charges: int
    expired: int


class AnalyticsService:
    def __init__(
        self,
        ledger: LedgerService,
        database: Database,
        clock: Clock,
        catalog: Catalog | None,
        subscriptions: SubscriptionService | None,
    ) -> None:
        self._ledger = ledger
        self._database = database
        self._now = clock
        self._catalog = catalog
        self._subscriptions = subscriptions

    def _catalog_required(self) -> Catalog:
        return present(self._catalog, "the operator's figures are read with a catalog")

    def _subscriptions_required(self) -> SubscriptionService:
        return present(self._subscriptions, "the operator's figures are read with subscriptions")

    # -- the operator's figures ---------------------------------------------------------------

    def analytics(self, start: datetime, end: datetime, unit: str) -> Analytics:
        """See ``CreditKit.analytics``; why each figure is what it is: ``Analytics``."""
        # Both checked before any work (the due work of every customer) is done.
        self._catalog_required()
        self._subscriptions_required()
        start, end = check_range(start, end, RANGE_DAYS_MAX)
        unit_ = self._ledger.unit(unit)
        # Due work first (renewals, expiries, hold timeouts), as every read does it for its
        # customer: the liability then agrees with the customers' balances.
        self._ledger.tick()
        now = self._now()
        sums = self._read_sums(unit_, start, end, now)
        revenue_by_plan = self._revenue_by_item(sums.revenue, plans=True)
        revenue_by_pack = self._revenue_by_item(sums.revenue, plans=False)
        revenue = _revenue_total((*revenue_by_plan, *revenue_by_pack), sums.overage)
        consumed = sums.spent
        cost_of_consumed, margin, margin_share = self._margin(unit_, consumed, revenue)
        annual = self._annual_recurring(sums.subscriptions, sums.plans)
        return Analytics(
            unit=unit_.name,
            start=start,
            end=end,
            as_of=now,
            mrr={
                currency: Money(_divided_half_up(amount, MONTHS_PER_YEAR), currency)
                for currency, amount in annual.items()
            },
            arr={currency: Money(amount, currency) for currency, amount in annual.items()},
            subscribers_by_plan=self._subscribers_by_plan(sums.subscriptions, sums.plans),
            conversion=Conversion(sums.customers, sums.paying, share(sums.paying, sums.customers)),
            credits_available=unit_.to_quantity(sums.available),
            credits_held=unit_.to_quantity(sums.held),
            credits_outstanding=unit_.to_quantity(sums.available + sums.held),
            revenue_by_plan=revenue_by_plan,
            revenue_by_pack=revenue_by_pack,
            overage_billed={
                currency: Money(amount, currency)
                for currency, amount in sorted(sums.overage.items())
            },
            revenue=revenue,
            consumed=unit_.to_quantity(consumed),
            charges=sums.charges,
            consumed_by_action=tuple(
                UsageGroup(
                    key=action,
                    label=self._action_label(action),
                    spent=unit_.to_quantity(steps),
                    charges=count,
                    share=share(steps, consumed),
                )
                for action, steps, count in sums.spent_by_action
            ),
            consumed_by_spender_kind=tuple(
                UsageGroup(
                    key=kind,
                    label=None,
                    spent=unit_.to_quantity(steps),
                    charges=count,
                    share=share(steps, consumed),
                )
                for kind, steps, count in sums.spent_by_spender_kind
            ),
            expired=unit_.to_quantity(sums.expired),
            cost_of_consumed=cost_of_consumed,
            margin=margin,
            margin_share=margin_share,
        )

    def _read_sums(self, unit: Unit, start: datetime, end: datetime, now: datetime) -> _Sums:
        """Every aggregate, in one snapshot: nine statements whatever the size of the ledger
        (and a read of each plan version in use, cached for the process's life)."""
        subscriptions = self._subscriptions_required()
        with self._database.read() as connection:
            groups = repository.subscription_groups(connection)
            plans = {
                version_id: subscriptions.plan_at_version(connection, version_id)
                for version_id in {group.plan_version_id for group in groups}
            }
            paid_plans = sorted(
                {
                    (group.plan_version_id, group.interval)
                    for group in groups
                    if _is_paid(plans[group.plan_version_id], group.interval)
                }
            )
            customers, paying = repository.conversion_counts(
                connection, PAYING_STATUSES, paid_plans
            )
            available, held = repository.credits_outstanding(connection, unit.name, now)
            issuance = self._ledger.system_account(ISSUANCE, unit.name)
            expiry = self._ledger.system_account(EXPIRY, unit.name)
            spending = usage_repository.spend_totals(
                connection, None, unit.name, start, end, issuance, expiry
            )
            _issued, expired_from_holds = usage_repository.hold_issued_and_expired(
                connection, None, unit.name, start, end, issuance, expiry
            )
            return _Sums(
                subscriptions=groups,
                plans=plans,
                customers=customers,
                paying=paying,
                available=available,
                held=held,
                revenue=repository.revenue_groups(connection, start, end, REFUNDED_STATUSES),
                overage=repository.overage_billed(connection, start, end),
                spent_by_action=breakdown_repository.spend_by_key(
                    connection, None, unit.name, start, end, _by_action, ACTION_GROUPS_MAX
                ),
                spent_by_spender_kind=breakdown_repository.spend_by_spender_kind(
                    connection, unit.name, start, end, SPENDER_KIND_GROUPS_MAX
                ),
                spent=spending.steps,
                charges=spending.charges,
                expired=spending.expired
                + expired_from_holds
                + usage_repository.grants_expired(connection, None, unit.name, start, end),
            )

    def _annual_recurring(
        self, groups: Iterable[SubscriptionGroup], plans: dict[int, Plan]
    ) -> dict[str, int]:
        """Minor units a year of every paying subscription brings, by currency, at the price of
        its plan version (grandfathered prices included); every currency of the catalog's
        plans present. Subscriptions paid in credits bring no money."""
        catalog = self._catalog_required()
        annual = {plan.currency: 0 for plan in catalog.plans.values() if plan.currency is not None}
        for group in groups:
            if group.status not in PAYING_STATUSES or group.pay_with != PAY_WITH_MONEY:
                continue
            price = _annual_price(plans[group.plan_version_id], group.interval)
            if price is not None:
                annual[price.currency] = (
                    annual.get(price.currency, 0) + group.count * price.amount_minor
                )
        return dict(sorted(annual.items()))

    def _subscribers_by_plan(
        self, groups: Iterable[SubscriptionGroup], plans: dict[int, Plan]
    ) -> dict[str, int]:
        catalog = self._catalog_required()
        counts = dict.fromkeys(catalog.plans, 0)
        for group in groups:
            if group.status in SUBSCRIBED_STATUSES:
                plan_id = plans[group.plan_version_id].id
                counts[plan_id] = counts.get(plan_id, 0) + group.count
        return counts

    def _revenue_by_item(
        self, groups: Iterable[RevenueGroup], *, plans: bool
    ) -> tuple[ItemRevenue, ...]:
        """Plans' (or packs') revenue: every priced catalog plan (every pack) in its currency
        first, in catalog order, zero included, then whatever else was sold (an item since
        removed from the catalog, another currency) by item and currency."""
        catalog = self._catalog_required()
        totals: dict[tuple[str, str], tuple[int, int, int]] = {}
        if plans:
            for plan in catalog.plans.values():
                if plan.currency is not None:
                    totals[(plan.id, plan.currency)] = (0, 0, 0)
        else:
            for pack in catalog.packs.values():
                totals[(pack.id, pack.price.currency)] = (0, 0, 0)
        catalog_order = list(totals)
        for group in groups:
            item = group.plan_id if plans else group.pack_id
            if item is None:
                continue
            count, paid, refunded = totals.get((item, group.currency), (0, 0, 0))
            totals[(item, group.currency)] = (
                count + group.payments,
                paid + group.paid_minor,
                refunded + group.refunded_minor,
            )
        others = sorted(key for key in totals if key not in catalog_order)
        return tuple(
            ItemRevenue(
                item=item,
                currency=currency,
                payments=totals[(item, currency)][0],
                paid=Money(totals[(item, currency)][1], currency),
                refunded=Money(totals[(item, currency)][2], currency),
                net=Money(totals[(item, currency)][1] - totals[(item, currency)][2], currency),
            )
            for item, currency in (*catalog_order, *others)
        )

    def _margin(
        self, unit: Unit, consumed: int, revenue: dict[str, Money]
    ) -> tuple[Money | None, Money | None, Decimal | None]:
        catalog = self._catalog_required()
        spec = catalog.units.get(unit.name)
        if spec is None or spec.cost is None:
            return None, None, None
        cost = spec.cost.amount_for(consumed, unit.scale)
        earned = revenue.get(cost.currency, Money(0, cost.currency)).amount_minor
        margin = earned - cost.amount_minor
        return cost, Money(margin, cost.currency), share(margin, earned)

    def _action_label(self, action: str | None) -> str | None:
        if action is None or self._catalog is None:
            return None
        known = self._catalog.actions.get(action)
        return None if known is None else known.label

    # -- the console's customer search --------------------------------------------------------

    def customers(
        self, search: str | None, limit: int, cursor: str | None, unit: str
    ) -> CustomerPage:
        """See ``CreditKit.customers``."""
        if search is not None:
            _check_search(search)
        if isinstance(limit, bool) or not isinstance(limit, int):
            raise InvalidRequest("limit", "must be an int")
        if not 1 <= limit <= CUSTOMER_PAGE_MAX:
            raise InvalidRequest("limit", f"must be from 1 to {CUSTOMER_PAGE_MAX}")
        before_id = _decode_cursor(cursor)
        unit_ = self._ledger.unit(unit)
        rows = self._customer_rows(search, before_id, limit + 1, unit_.name)
        page = rows[:limit]
        next_cursor = f"{CUSTOMER_CURSOR_PREFIX}{page[-1].id}" if len(rows) > limit else None
        return CustomerPage(
            items=tuple(
                CustomerOverview(
                    id=row.external_id,
                    kind=CustomerKind(row.kind),
                    created_at=row.created_at,
                    plan=row.plan_id,
                    available=unit_.to_quantity(row.available),
                )
                for row in page
            ),
            next_cursor=next_cursor,
        )

    def _customer_rows(
        self, search: str | None, before_id: int | None, limit: int, unit: str
    ) -> list[repository.CustomerListing]:
        """The page, read again once its customers with due work (a renewal, a hold timed out)
        have done it, as ``balance`` does for one customer: what they list is what ``balance``
        and ``subscription`` would say of each."""
        now = self._now()
        with self._database.read() as connection:
            rows = repository.customer_page(connection, search, before_id, limit, unit, now)
        due = [
            row.external_id
            for row in rows
            if row.next_due_at is not None and row.next_due_at <= now
        ]
        if not due:
            return rows
        for external_id in due:
            self._ledger.sweep_if_due(external_id)
        now = self._now()
        with self._database.read() as connection:
            return repository.customer_page(connection, search, before_id, limit, unit, now)


def _is_paid(plan: Plan, interval: str) -> bool:
    price = plan.prices.get(Interval(interval))
    return price is not None and price.amount_minor > 0


def _revenue_total(items: Iterable[ItemRevenue], overage: dict[str, int]) -> dict[str, Money]:
    """Net revenue of plans and packs plus overage billed, by currency."""
    totals: dict[str, int] = {}
    for item in items:
        totals[item.currency] = totals.get(item.currency, 0) + item.net.amount_minor
    for currency, amount in overage.items():
        totals[currency] = totals.get(currency, 0) + amount
    return {currency: Money(amount, currency) for currency, amount in sorted(totals.items())}


def _check_search(search: object) -> None:
    if not isinstance(search, str):
        raise InvalidRequest("search", "must be a string (or None for every customer)")
    if len(search) > EXTERNAL_ID_LENGTH_MAX:
        raise InvalidRequest("search", f"must be at most {EXTERNAL_ID_LENGTH_MAX} characters")
    if "\x00" in search:
        raise InvalidRequest("search", "must not contain NUL (U+0000)")


def _decode_cursor(cursor: object) -> int | None:
    """The id the page starts below: a cursor is ``c`` and the last id of the previous page,
    as the ledger's history pages (``t`` and a transaction id)."""
    if cursor is None:
        return None
    if (
        not isinstance(cursor, str)
        or not cursor.startswith(CUSTOMER_CURSOR_PREFIX)
        or not cursor[1:].isdigit()
        or not cursor[1:].isascii()
        or int(cursor[1:]) > ID_MAX
    ):
        raise InvalidRequest("cursor", "is not a cursor this listing returned")
    return int(cursor[1:])
