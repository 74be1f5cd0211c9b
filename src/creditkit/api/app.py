"""The HTTP service: ``create_app(kit)`` puts a ``CreditKit`` behind ``/v1``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from creditkit import __version__
from creditkit.api import catalog, customers, ledger, observability, problems, subscriptions
from creditkit.api.context import Service
from creditkit.catalog import UNLIMITED, Allowance
from creditkit.errors import CreditKitError, InsufficientCredits
from creditkit.kit import CreditKit

#: Packs offered in a 402, at most (the cheapest that cover the shortfall).
PACKS_OFFERED_MAX = 3


def create_app(kit: CreditKit) -> FastAPI:
    """The API over ``kit``. The kit's catalog gives the public catalog, plans and actions."""
    app = FastAPI(
        title="creditkit",
        version=__version__,
        description="Credits, subscriptions and entitlements for AI products. Every write "
        "takes an Idempotency-Key; every error is application/problem+json.",
    )
    service = Service.of(kit)
    problems.install(app, lambda error: what_would_cover(kit, error))
    metrics = observability.Metrics()
    for module in (ledger, customers, subscriptions, catalog):
        app.include_router(module.router(service))
    app.include_router(observability.router(service, metrics))
    app.add_middleware(observability.ObservedApp, metrics=metrics)
    return app


def what_would_cover(kit: CreditKit, error: CreditKitError) -> dict[str, Any]:
    """For a 402: the packs that would cover the shortfall (cheapest first) and the plan to
    upgrade to whose allowance covers the whole charge."""
    if not isinstance(error, InsufficientCredits) or kit.catalog is None:
        return {}
    catalog = kit.catalog
    shortfall = error.required - error.available
    covering = sorted(
        (
            pack
            for pack in catalog.packs.values()
            if pack.unit == error.unit and pack.amount >= shortfall
        ),
        key=lambda pack: (pack.price.amount_minor, pack.amount),
    )[:PACKS_OFFERED_MAX]
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
                "amount": pack.amount,
                "price": {"amount_minor": pack.price.amount_minor, "currency": pack.price.currency},
            }
            for pack in covering
        ],
        "upgrade_to": upgrade_to,
    }
