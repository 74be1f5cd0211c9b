"""Webhook endpoints and their deliveries, the event log, and alert thresholds."""

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse

from creditkit.api.context import Service
from creditkit.api.idempotency import IdempotencyKey
from creditkit.api.schemas import TEXT_PATTERN, AlertsPut, WebhookEndpointCreate
from creditkit.keys.schemas import Caller, Scope
from creditkit.notify.schemas import (
    Alerts,
    Delivery,
    Event,
    RegisteredWebhookEndpoint,
    WebhookEndpoint,
)

CustomerId = Annotated[str, Path(min_length=1, max_length=255, pattern=TEXT_PATTERN)]
EndpointId = Annotated[int, Path(ge=1, le=2**63 - 1)]
AfterId = Annotated[int, Query(ge=0, le=2**63 - 1)]
Limit = Annotated[int, Query(ge=1, le=500)]
Unit = Annotated[str, Query(min_length=1, max_length=64, pattern=TEXT_PATTERN)]


def router(service: Service) -> APIRouter:
    api = APIRouter(prefix="/v1", tags=["webhooks and alerts"])
    kit, access, responses = service.kit, service.access, service.responses
    Authenticated = Annotated[Caller, Depends(access.caller)]

    @api.post("/webhook-endpoints", status_code=201, response_model=RegisteredWebhookEndpoint)
    def register(
        caller: Authenticated, body: WebhookEndpointCreate, key: IdempotencyKey
    ) -> RegisteredWebhookEndpoint:
        """Registers a URL for events (all, or ``event_types``). The answer holds the signing
        ``secret`` (shown here only): verify each delivery with it as Standard Webhooks
        (``webhook-id``, ``webhook-timestamp``, ``webhook-signature``)."""
        access.require_scope(caller, Scope.ADMIN)
        return kit.register_webhook_endpoint(
            body.url, idempotency_key=key, event_types=body.event_types
        )

    @api.get("/webhook-endpoints", response_model=list[WebhookEndpoint])
    def endpoints(caller: Authenticated) -> list[WebhookEndpoint]:
        access.require_scope(caller, Scope.ADMIN)
        return kit.webhook_endpoints()

    @api.get("/webhook-endpoints/{endpoint_id}", response_model=WebhookEndpoint)
    def endpoint(caller: Authenticated, endpoint_id: EndpointId) -> WebhookEndpoint:
        access.require_scope(caller, Scope.ADMIN)
        return kit.webhook_endpoint(endpoint_id)

    @api.post(
        "/webhook-endpoints/{endpoint_id}/rotate-secret", response_model=RegisteredWebhookEndpoint
    )
    def rotate_secret(
        caller: Authenticated, endpoint_id: EndpointId, key: IdempotencyKey
    ) -> RegisteredWebhookEndpoint:
        """A new signing ``secret`` (shown here only). Deliveries are signed with the previous
        one too until ``endpoint.previous_secret_expires_at`` (24 hours), so the receiver can
        switch to the new one without refusing any. A replay of the key returns the same
        secret."""
        access.require_scope(caller, Scope.ADMIN)
        return kit.rotate_webhook_secret(endpoint_id, idempotency_key=key)

    @api.post("/webhook-endpoints/{endpoint_id}/disable", response_model=WebhookEndpoint)
    async def disable(
        request: Request, caller: Authenticated, endpoint_id: EndpointId, key: IdempotencyKey
    ) -> JSONResponse:
        """Stops deliveries to it (what it was owed waits until it is enabled again)."""
        access.require_scope(caller, Scope.ADMIN)
        return await responses.once(request, key, lambda: kit.disable_webhook_endpoint(endpoint_id))

    @api.post("/webhook-endpoints/{endpoint_id}/enable", response_model=WebhookEndpoint)
    async def enable(
        request: Request, caller: Authenticated, endpoint_id: EndpointId, key: IdempotencyKey
    ) -> JSONResponse:
        access.require_scope(caller, Scope.ADMIN)
        return await responses.once(request, key, lambda: kit.enable_webhook_endpoint(endpoint_id))

    @api.delete("/webhook-endpoints/{endpoint_id}", status_code=204)
    def delete(caller: Authenticated, endpoint_id: EndpointId) -> None:
        access.require_scope(caller, Scope.ADMIN)
        kit.delete_webhook_endpoint(endpoint_id)

    @api.get("/webhook-deliveries", response_model=list[Delivery])
    def deliveries(
        caller: Authenticated,
        after_id: AfterId = 0,
        limit: Limit = 100,
        endpoint_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
        status: Literal["pending", "delivered", "failed"] | None = None,
    ) -> list[Delivery]:
        access.require_scope(caller, Scope.ADMIN)
        return kit.webhook_deliveries(
            after_id=after_id, limit=limit, endpoint_id=endpoint_id, status=status
        )

    @api.get("/events", response_model=list[Event])
    def events(
        caller: Authenticated,
        after_id: AfterId = 0,
        limit: Limit = 100,
        customer: Annotated[
            str | None, Query(min_length=1, max_length=255, pattern=TEXT_PATTERN)
        ] = None,
        type: Annotated[str | None, Query(max_length=64, pattern=TEXT_PATTERN)] = None,
    ) -> list[Event]:
        """The event log, oldest first after ``after_id`` (what webhooks deliver)."""
        access.require_scope(caller, Scope.READ)
        return kit.events(after_id, limit, customer=customer, type=type)

    @api.get("/customers/{customer}/alerts", response_model=Alerts)
    def alerts(caller: Authenticated, customer: CustomerId, unit: Unit = "credits") -> Alerts:
        """The thresholds in force: the customer's own, else its plan's."""
        access.require_customer(caller, customer, Scope.READ)
        return kit.alerts(customer, unit=unit)

    @api.put("/customers/{customer}/alerts", response_model=Alerts)
    def set_alerts(caller: Authenticated, customer: CustomerId, body: AlertsPut) -> Alerts:
        """Sets the customer's own thresholds (``credits_left``, ``percent_used``), replacing
        its plan's for the unit. Idempotent: the same body sets the same thresholds."""
        access.require_scope(caller, Scope.WRITE)
        return kit.set_alerts(
            customer,
            unit=body.unit,
            credits_left=body.credits_left,
            percent_used=body.percent_used,
        )

    @api.delete("/customers/{customer}/alerts", response_model=Alerts)
    def clear_alerts(caller: Authenticated, customer: CustomerId, unit: Unit = "credits") -> Alerts:
        """Back to the plan's thresholds."""
        access.require_scope(caller, Scope.WRITE)
        return kit.clear_alerts(customer, unit=unit)

    return api
