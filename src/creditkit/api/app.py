"""The HTTP service: ``create_app(kit)`` puts a ``CreditKit`` behind ``/v1``."""

from __future__ import annotations

from fastapi import FastAPI

from creditkit import __version__
from creditkit.api import (
    catalog,
    customers,
    ledger,
    notify,
    observability,
    payments,
    problems,
    subscriptions,
    usage,
)
from creditkit.api.context import Service
from creditkit.kit import CreditKit
from creditkit.web import pages as web


def create_app(kit: CreditKit) -> FastAPI:
    """The API over ``kit``. The kit's catalog gives the public catalog, plans and actions."""
    app = FastAPI(
        title="creditkit",
        version=__version__,
        description="Credits, subscriptions and entitlements for AI products. Every write "
        "takes an Idempotency-Key; every error is application/problem+json.",
    )
    service = Service.of(kit)
    problems.install(app, service.enrich, service.access.refusal)
    metrics = observability.Metrics()
    for module in (ledger, customers, subscriptions, usage, payments, notify, catalog):
        app.include_router(module.router(service))
    app.include_router(observability.router(service, metrics))
    app.add_middleware(observability.ObservedApp, metrics=metrics)
    problems.document(app)
    web.install(app, kit, service.access)
    return app
