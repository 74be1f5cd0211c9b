"""Who collects a plan's price.

- The rule that a plan priced in money is started only where someone collects it (the kit and
  the HTTP API both apply it, so they agree): ``check_collected``.
- ``Collector``, the port through which a renewal collects its price: subscriptions owns the
  renewal and calls it; payments implements it; the kit wires one into ``SubscriptionService``
  when it builds it.
"""

from __future__ import annotations

from typing import Protocol

from creditkit.catalog import Catalog, Interval
from creditkit.errors import CheckoutRequired, InvalidRequest
from creditkit.store.unit_of_work import CustomerRow, UnitOfWork
from creditkit.subscriptions.schemas import PaidPeriod

PAY_WITH_MONEY = "money"


class Collector(Protocol):
    """Collects the price of billing periods paid in money. Both are called inside the
    subscription's write, under the customer's lock, with its unit of work."""

    def collects_by_invoice(self, context: UnitOfWork, holder: CustomerRow) -> bool:
        """Whether the provider bills this customer's renewals itself (Stripe Billing): the next
        billing period then starts when the provider's invoice for it is paid
        (``SubscriptionService.renew_collected``), never on this clock, so that no period is
        billed that nobody collects."""
        ...

    def collect(self, context: UnitOfWork, holder: CustomerRow, period: PaidPeriod) -> None:
        """A billing period paid in money has started by renewal (``period``): collect its
        price, once however often it is asked for the same period."""
        ...


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
