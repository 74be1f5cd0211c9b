"""Analytics' SQL: aggregates over every customer's rows. Read-only; decides nothing (service.py
says what counts). Each function is one statement whose result has one row per group (a plan
version, an item, a currency), never one per customer, payment or transaction; the one list of
customers is the console's page, at most a page long."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from creditkit.ledger.schemas import HoldStatus
from creditkit.store.tables import (
    accounts,
    billing_lines,
    customers,
    grants,
    holds,
    payments,
    plan_versions,
    subscriptions,
)


@dataclass(frozen=True, slots=True)
class SubscriptionGroup:
    """How many subscriptions are on one plan version, by one interval, in one status, paid one
    way."""

    plan_version_id: int
    interval: str
    status: str
    pay_with: str
    count: int


def subscription_groups(connection: Connection) -> list[SubscriptionGroup]:
    rows = connection.execute(
        sa.select(
            subscriptions.c.plan_version_id,
            subscriptions.c.interval,
            subscriptions.c.status,
            subscriptions.c.pay_with,
            sa.func.count(),
        ).group_by(
            subscriptions.c.plan_version_id,
            subscriptions.c.interval,
            subscriptions.c.status,
            subscriptions.c.pay_with,
        )
    )
    return [SubscriptionGroup(row[0], row[1], row[2], row[3], int(row[4])) for row in rows]


def conversion_counts(
    connection: Connection,
    paying_statuses: Sequence[str],
    paid_plans: Sequence[tuple[int, str]],
) -> tuple[int, int]:
    """(customers with a subscription, those of them paying): on one of ``paid_plans`` (plan
    version id, interval) in one of ``paying_statuses``, paid in money, or with a payment of
    more than nothing that has succeeded (refunded since or not)."""
    on_paid_plan: sa.ColumnElement[bool] = sa.false()
    if paid_plans:
        on_paid_plan = sa.and_(
            subscriptions.c.status.in_(paying_statuses),
            subscriptions.c.pay_with == "money",
            sa.or_(
                *(
                    sa.and_(
                        subscriptions.c.plan_version_id == version_id,
                        subscriptions.c.interval == interval,
                    )
                    for version_id, interval in paid_plans
                )
            ),
        )
    # ``ix_payments_customer_kind`` finds a customer's payments.
    ever_paid = (
        sa.exists()
        .where(
            payments.c.customer_id == subscriptions.c.customer_id,
            payments.c.succeeded_at.is_not(None),
            payments.c.amount_minor > 0,
        )
        .correlate(subscriptions)
    )
    is_paying = sa.case((sa.or_(on_paid_plan, ever_paid), 1), else_=0)
    paying = sa.func.coalesce(sa.func.sum(is_paying), 0)
    row = connection.execute(sa.select(sa.func.count(), paying).select_from(subscriptions)).one()
    return int(row[0]), int(row[1])


@dataclass(frozen=True, slots=True)
class RevenueGroup:
    """Payments for one plan or one pack in one currency over a range."""

    plan_id: str | None
    pack_id: str | None
    currency: str
    payments: int
    paid_minor: int
    refunded_minor: int


def revenue_groups(
    connection: Connection, start: datetime, end: datetime, refunded_statuses: Sequence[str]
) -> list[RevenueGroup]:
    """What payments that succeeded in [start, end) paid, and what refunds made in it gave
    back, by plan or pack and currency. A refunded payment's last update is its refund (its
    status moves no further), so ``updated_at`` dates the refund."""
    succeeded_in_range = sa.and_(payments.c.succeeded_at >= start, payments.c.succeeded_at < end)
    refunded_in_range = sa.and_(
        payments.c.status.in_(refunded_statuses),
        payments.c.updated_at >= start,
        payments.c.updated_at < end,
    )

    def total(condition: sa.ColumnElement[bool], value: sa.ColumnElement[Any]) -> Any:
        return sa.func.coalesce(sa.func.sum(sa.case((condition, value), else_=0)), 0)

    rows = connection.execute(
        sa.select(
            payments.c.plan_id,
            payments.c.pack_id,
            payments.c.currency,
            total(succeeded_in_range, sa.literal(1)),
            total(succeeded_in_range, payments.c.amount_minor),
            total(refunded_in_range, sa.func.coalesce(payments.c.refunded_minor, 0)),
        )
        .where(sa.or_(succeeded_in_range, refunded_in_range))
        .group_by(payments.c.plan_id, payments.c.pack_id, payments.c.currency)
    )
    return [
        RevenueGroup(row[0], row[1], row[2], int(row[3]), int(row[4]), int(row[5])) for row in rows
    ]


def overage_billed(connection: Connection, start: datetime, end: datetime) -> dict[str, int]:
    """Minor units of the overage statements whose overage period closed in (start, end], by
    currency: a period closing at ``end`` exactly is the range's (as ``grants_expired`` counts
    an allowance expiring at its period's end in that period), so a month's range holds the
    month's overage."""
    rows = connection.execute(
        sa.select(billing_lines.c.currency, sa.func.sum(billing_lines.c.amount_minor))
        .where(
            billing_lines.c.kind == "overage",
            billing_lines.c.period_end > start,
            billing_lines.c.period_end <= end,
        )
        .group_by(billing_lines.c.currency)
    )
    return {row[0]: int(row[1]) for row in rows}


def _live_grant_credits(unit: str, now: datetime) -> sa.Select[Any]:
    """The sum of the remaining steps of ``unit`` in grants that count at ``now`` (started, not
    yet expired: ``GrantRow.is_live``), of whichever customers the caller's conditions pick."""
    return (
        sa.select(sa.func.coalesce(sa.func.sum(accounts.c.balance), 0))
        .select_from(accounts.join(grants, grants.c.account_id == accounts.c.id))
        .where(
            accounts.c.kind == "grant",
            accounts.c.unit == unit,
            accounts.c.balance > 0,
            grants.c.effective_at <= now,
            sa.or_(grants.c.expires_at.is_(None), grants.c.expires_at > now),
        )
    )


def credits_outstanding(connection: Connection, unit: str, now: datetime) -> tuple[int, int]:
    """(steps available in live grants, steps held by active holds) of ``unit``, all customers
    together: the sums ``balance`` makes per customer."""
    # What the holds' accounts hold: a child's credits left its parent's account, and what a
    # hold committed in part left it, so neither is counted twice.
    held = (
        sa.select(sa.func.coalesce(sa.func.sum(accounts.c.balance), 0))
        .select_from(holds)
        .join(accounts, accounts.c.id == holds.c.account_id)
        .where(holds.c.unit == unit, holds.c.status == HoldStatus.ACTIVE.value)
    )
    row = connection.execute(
        sa.select(_live_grant_credits(unit, now).scalar_subquery(), held.scalar_subquery())
    ).one()
    return int(row[0]), int(row[1])


@dataclass(frozen=True, slots=True)
class CustomerListing:
    id: int
    external_id: str
    kind: str
    created_at: datetime
    next_due_at: datetime | None
    plan_id: str | None
    available: int


def customer_page(
    connection: Connection,
    search: str | None,
    before_id: int | None,
    limit: int,
    unit: str,
    now: datetime,
) -> list[CustomerListing]:
    """Up to ``limit`` customers whose external id contains ``search`` (any case; ``%``, ``_``
    and the escape character match themselves), newest first (by id, older than
    ``before_id``), each with its plan and the steps of ``unit`` available in its live grants.

    The page is chosen first (a subquery with its LIMIT), then each of its rows gets its plan
    and its available credits (``ix_accounts_customer_grants``): the cost is one lookup per
    customer shown, in one statement, whatever the number of customers."""
    page = sa.select(customers.c.id).order_by(customers.c.id.desc()).limit(limit)
    if search is not None:
        page = page.where(customers.c.external_id.icontains(search, autoescape=True))
    if before_id is not None:
        page = page.where(customers.c.id < before_id)
    chosen = page.subquery("page")
    available = (
        _live_grant_credits(unit, now)
        .where(accounts.c.customer_id == customers.c.id)
        .correlate(customers)
        .scalar_subquery()
    )
    rows = connection.execute(
        sa.select(
            customers.c.id,
            customers.c.external_id,
            customers.c.kind,
            customers.c.created_at,
            customers.c.next_due_at,
            plan_versions.c.plan_id,
            available,
        )
        .select_from(
            chosen.join(customers, customers.c.id == chosen.c.id)
            .outerjoin(subscriptions, subscriptions.c.customer_id == customers.c.id)
            .outerjoin(plan_versions, plan_versions.c.id == subscriptions.c.plan_version_id)
        )
        .order_by(customers.c.id.desc())
    )
    return [
        CustomerListing(row[0], row[1], row[2], row[3], row[4], row[5], int(row[6])) for row in rows
    ]
