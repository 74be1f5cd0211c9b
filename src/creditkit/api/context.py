"""What every router is built with: the kit, access checks, stored responses, rate limits."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any
from urllib.parse import quote

from creditkit.api.auth import Access
from creditkit.api.idempotency import Responses
from creditkit.api.problems import ApiProblem
from creditkit.api.throttle import FAILURES_PER_MINUTE_MAX
from creditkit.catalog import UNLIMITED, Allowance, Catalog, Interval, Pack
from creditkit.errors import CheckoutRequired, CreditKitError, InsufficientCredits
from creditkit.events.publisher import EventPublisher
from creditkit.kit import CreditKit

#: Packs offered in a 402, at most: the cheapest that cover the shortfall, and when more cover
#: it, the last place goes to the best value (the lowest price per credit), so that a
#: catalog's biggest discount is always one of the offers (docs/api.md).
PACKS_OFFERED_MAX = 3


def offered(covering: list[Pack]) -> list[Pack]:
    """``covering`` (cheapest first) cut to ``PACKS_OFFERED_MAX``, keeping the best value."""
    if len(covering) <= PACKS_OFFERED_MAX:
        return covering
    # Price per credit compared exactly, as fractions (never floats); a tie: the cheaper pack.
    best = min(
        covering[PACKS_OFFERED_MAX - 1 :],
        key=lambda pack: (
            Fraction(pack.price.amount_minor) / Fraction(pack.amount),
            pack.price.amount_minor,
        ),
    )
    cheapest = covering[: PACKS_OFFERED_MAX - 1]
    return [*cheapest, best]


def upgrade_offer(catalog: Catalog | None, plan_id: str | None) -> dict[str, Any] | None:
    """The plan to upgrade to as a paywall shows it: its id, name, and price (monthly when
    sold monthly, else its first interval's; None for a plan not sold self-serve)."""
    if catalog is None or plan_id is None or plan_id not in catalog.plans:
        return None
    plan = catalog.plans[plan_id]
    interval = Interval.MONTH if Interval.MONTH in plan.prices else next(iter(plan.prices), None)
    price = None if interval is None else plan.prices[interval]
    return {
        "id": plan.id,
        "name": plan.name,
        "price": None
        if price is None
        else {"amount_minor": price.amount_minor, "currency": price.currency},
        "interval": None if interval is None else interval.value,
    }


@dataclass(frozen=True, slots=True)
class Service:
    kit: CreditKit
    access: Access
    responses: Responses
    #: Whether any plan sets a rate limit (if none does, requests are not counted). The catalog
    #: is fixed for the process, so it is decided once, not on every request.
    rate_limited: bool
    #: Where ``POST /v1/events`` publishes (``serve --events``); None: it charges at once.
    publisher: EventPublisher | None = None

    @classmethod
    def of(
        cls,
        kit: CreditKit,
        auth_failures_per_minute_max: int = FAILURES_PER_MINUTE_MAX,
        publisher: EventPublisher | None = None,
    ) -> Service:
        catalog = kit.catalog
        rate_limited = catalog is not None and any(
            plan.rate_limit_per_minute is not None for plan in catalog.plans.values()
        )
        access = Access(kit, auth_failures_per_minute_max)
        return cls(kit, access, Responses(kit), rate_limited, publisher)

    def count_request(self, customer: str) -> None:
        """Counts a metered request against the customer's plan rate limit in a transaction of
        its own; 429 with ``Retry-After`` past it. Only a batch of events uses it: charges and
        holds count in their own write's transaction (``rate_limited``)."""
        if not self.rate_limited:
            return
        decision = self.kit.hit_rate_limit(customer)
        if not decision.allowed:
            raise ApiProblem(
                429,
                "rate_limited",
                f"the plan allows {decision.limit} requests a minute",
                headers={"Retry-After": str(decision.retry_after_seconds)},
                limit_per_minute=decision.limit,
                retry_after_seconds=decision.retry_after_seconds,
            )

    def enrich(self, error: CreditKitError) -> dict[str, Any]:
        """For a 402: the packs that would cover the shortfall (cheapest first) and the plan to
        upgrade to whose allowance covers the whole charge. For a 409 ``checkout_required``:
        the route that starts the plan through checkout."""
        if isinstance(error, CheckoutRequired):
            return {"checkout": f"/v1/customers/{quote(error.customer, safe='')}/checkout"}
        kit = self.kit
        if not isinstance(error, InsufficientCredits) or kit.catalog is None:
            return {}
        catalog = kit.catalog
        shortfall = error.required - error.available
        # Only what checkout would sell this customer now: no free pack, none past its limit.
        covering = offered(
            sorted(
                (
                    pack
                    for pack in kit.packs_for_sale(error.customer)
                    if pack.unit == error.unit and pack.amount >= shortfall
                ),
                key=lambda pack: (pack.price.amount_minor, pack.amount),
            )
        )
        try:
            current_rank = kit.plan_of(error.customer).rank
        except CreditKitError:
            current_rank = None
        upgrade_to = None
        for plan in catalog.plans_by_rank():
            if current_rank is None or plan.rank <= current_rank:
                continue
            allowance = plan.allowance
            if allowance is UNLIMITED or (
                isinstance(allowance, Allowance)
                and allowance.unit == error.unit
                and allowance.amount >= error.required
            ):
                upgrade_to = plan.id
                break
        return {
            "packs": [
                {
                    "id": pack.id,
                    "name": pack.name,
                    "amount": pack.amount,
                    "price": {
                        "amount_minor": pack.price.amount_minor,
                        "currency": pack.price.currency,
                    },
                }
                for pack in covering
            ],
            "upgrade_to": upgrade_to,
            "upgrade": upgrade_offer(catalog, upgrade_to),
        }
