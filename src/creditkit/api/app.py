"""The HTTP service: ``create_app(kit)`` puts a ``CreditKit`` behind ``/v1``."""

from __future__ import annotations

from fastapi import FastAPI

from creditkit import __version__
from creditkit.api import (
    catalog,
    contract,
    customers,
    docs_pages,
    ledger,
    notify,
    observability,
    payments,
    problems,
    spenders,
    subscriptions,
    usage,
)
from creditkit.api.context import Service
from creditkit.kit import CreditKit
from creditkit.web import pages as web

#: Operations that need no key: the public catalog, health and metrics, and the payment
#: providers' webhook (its signature authenticates it).
PUBLIC_OPERATIONS = {
    "getCatalog",
    "getPlans",
    "getPacks",
    "getActionCosts",
    "getHealth",
    "getMetrics",
    "handlePaymentWebhook",
}


def create_app(kit: CreditKit) -> FastAPI:
    """The API over ``kit``. The kit's catalog gives the public catalog, plans and actions."""
    app = FastAPI(
        title="creditkit",
        version=__version__,
        description="Credits, subscriptions and entitlements for AI products. Every write "
        "takes an Idempotency-Key; every error is application/problem+json.",
        license_info={"name": "MIT", "identifier": "MIT"},
        generate_unique_id_function=contract.operation_id,
        docs_url=None,
        redoc_url=None,
    )
    service = Service.of(kit)
    problems.install(app, service.enrich, service.access.refusal)
    metrics = observability.Metrics()
    for module in (
        ledger, customers, spenders, subscriptions, usage, payments, notify, catalog,
    ):  # fmt: skip
        app.include_router(module.router(service))
    app.include_router(observability.router(service, metrics))
    app.add_middleware(observability.ObservedApp, metrics=metrics)
    contract.document(app, PUBLIC_OPERATIONS)
    docs_pages.install(app, app.openapi_url or "/openapi.json")
    web.install(app, kit, service.access)
    return app
