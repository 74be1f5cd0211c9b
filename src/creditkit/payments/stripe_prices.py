"""Catalog plans as a provider's Products and Prices: one Price per plan version and interval,
found by a lookup key made of the three, so that a checkout, the billing portal and creditkit
name the same Price. A plan edited in the catalog is a new version, and so a new Price; the
old one stays for the subscriptions that keep the old terms."""

from __future__ import annotations

from sqlalchemy.engine import Connection

from creditkit.catalog import Catalog, Interval
from creditkit.payments.schemas import PlanPrice
from creditkit.store.database import Database
from creditkit.subscriptions import repository as subscriptions_repository


def plan_price(
    connection: Connection, catalog: Catalog, plan_id: str, interval: Interval
) -> PlanPrice | None:
    """The plan's current price by ``interval``; None when it has none above zero (nothing for
    a provider to collect) or its version is not recorded yet."""
    plan = catalog.plan(plan_id)
    amount = plan.prices.get(interval)
    if amount is None or amount.amount_minor <= 0:
        return None
    row = subscriptions_repository.plan_version_by_fingerprint(
        connection, plan_id, catalog.fingerprint(plan_id)
    )
    if row is None:
        return None
    return PlanPrice(plan.id, plan.name, row.version, interval, amount)


def plan_prices(database: Database, catalog: Catalog) -> tuple[PlanPrice, ...]:
    """Every price of the catalog's plans a provider collects, at their current versions."""
    with database.read() as connection:
        found = (
            plan_price(connection, catalog, plan_id, interval)
            for plan_id, plan in sorted(catalog.plans.items())
            for interval in sorted(plan.prices, key=lambda interval: interval.value)
        )
        return tuple(price for price in found if price is not None)
