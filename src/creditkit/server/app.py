"""The HTTP service: ``create_app(kit)`` puts a ``CreditKit`` behind ``/v1``."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI

from creditkit.api import (
    audit,
    catalog,
    contract,
    customers,
    docs_pages,
    ingest,
    ledger,
    notify,
    observability,
    payments,
    problems,
    sessions,
    spenders,
    subscriptions,
    usage,
)
from creditkit.api.context import Service
from creditkit.api.limits import BODY_BYTES_MAX_DEFAULT, BodyLimit
from creditkit.api.throttle import FAILURES_PER_MINUTE_MAX, ClientAddress
from creditkit.events.publisher import EventPublisher
from creditkit.kit import CreditKit
from creditkit.version import __version__
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


def create_app(
    kit: CreditKit,
    *,
    body_bytes_max: int = BODY_BYTES_MAX_DEFAULT,
    public_url: str | None = None,
    return_origins: Sequence[str] = (),
    auth_failures_per_minute_max: int = FAILURES_PER_MINUTE_MAX,
    events: EventPublisher | None = None,
) -> FastAPI:
    """The API over ``kit``. The kit's catalog gives the public catalog, plans and actions.
    Request bodies above ``body_bytes_max`` bytes are refused with 413 unread; pages' forms are
    accepted from ``public_url``'s origin only (else the address the request came to), and its
    links are built from it; checkout pages link back only to ``return_origins``. An address
    past ``auth_failures_per_minute_max`` failed authentications in a minute gets 429. With
    ``events``, ``POST /v1/events`` publishes to the events stream and answers 202."""
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
    service = Service.of(kit, auth_failures_per_minute_max, events)
    problems.install(app, service.enrich, service.access.refusal)
    metrics = observability.Metrics()
    modules = (
        ledger, customers, spenders, sessions, subscriptions, usage, payments, notify, catalog,
        audit, ingest,
    )  # fmt: skip
    for module in modules:
        app.include_router(module.router(service))
    app.include_router(observability.router(service, metrics))
    app.add_middleware(observability.ObservedApp, metrics=metrics)
    app.add_middleware(ClientAddress)
    # Outermost: a body too large is refused before anything reads it.
    app.add_middleware(BodyLimit, bytes_max=body_bytes_max)
    contract.document(app, PUBLIC_OPERATIONS)
    docs_pages.install(app, app.openapi_url or "/openapi.json")
    web.install(app, kit, service.access, public_url, tuple(return_origins))
    return app
