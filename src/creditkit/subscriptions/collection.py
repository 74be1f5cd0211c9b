"""Who collects a plan's price: the rule that a plan priced in money is started only where
someone collects it (the kit and the HTTP API both apply it, so they agree)."""

from __future__ import annotations

from creditkit.catalog import Catalog, Interval
from creditkit.errors import CheckoutRequired, InvalidRequest

PAY_WITH_MONEY = "money"


def check_collected(
    catalog: Catalog,
    customer: str,
    plan: str,
    interval: str,
    pay_with: str,
    collected_elsewhere: bool,
) -> None:
    """Raises ``CheckoutRequired`` when ``plan`` has a price in money for ``interval``, is paid
    with money, and the caller does not collect it itself (``collected_elsewhere``): started
    so, it would bill periods nobody collects. A checkout collects through the payment
    provider and starts the plan when paid. An unknown plan or interval passes: the
    subscription's own checks name it."""
    if not isinstance(collected_elsewhere, bool):
        raise InvalidRequest("collected_elsewhere", "must be a bool")
    if collected_elsewhere or pay_with != PAY_WITH_MONEY:
        return
    tier = catalog.plans.get(plan)
    if tier is None or interval not in {member.value for member in Interval}:
        return
    price = tier.prices.get(Interval(interval))
    if price is None or price.amount_minor == 0:
        return
    raise CheckoutRequired(customer, plan, interval, price.amount_minor, price.currency)
