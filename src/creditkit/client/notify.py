"""The client's events, webhooks and alerts (``Client``'s methods: see client.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from creditkit.client.encode import amount_json, endpoint_path, row_id, v1_path
from creditkit.client.wire import Wire, decoded
from creditkit.errors import Quantity
from creditkit.notify.schemas import (
    Alerts,
    Delivery,
    Event,
    EventType,
    RegisteredWebhookEndpoint,
    WebhookEndpoint,
)


class ClientNotify:
    """Outbound events, webhook endpoints and alerts over HTTP (see docs/notify.md)."""

    _wire: Wire

    def events(
        self,
        after_id: int = 0,
        limit: int = 100,
        *,
        customer: str | None = None,
        type: str | EventType | None = None,
    ) -> list[Event]:
        """Outbound events with an id above ``after_id``, oldest first, at most ``limit``;
        only the ``customer``'s, or of one ``type``, when given."""
        query: dict[str, Any] = {"after_id": after_id, "limit": limit}
        if customer is not None:
            query["customer"] = customer
        if type is not None:
            query["type"] = str(type)
        return self._wire.read_list(v1_path("events"), Event, query)

    def register_webhook_endpoint(
        self,
        url: str,
        *,
        idempotency_key: str | None = None,
        event_types: Sequence[str | EventType] | None = None,
    ) -> RegisteredWebhookEndpoint:
        """Registers an http(s) ``url`` for events (only ``event_types``, when given). The
        answer holds the signing ``secret``: nothing else returns it."""
        types = None if event_types is None else [str(kind) for kind in event_types]
        body = {"url": url, "event_types": types}
        path = v1_path("webhook-endpoints")
        return self._wire.write("POST", path, RegisteredWebhookEndpoint, body, idempotency_key)

    def rotate_webhook_secret(
        self, endpoint_id: int, *, idempotency_key: str | None = None
    ) -> RegisteredWebhookEndpoint:
        """A new signing ``secret`` for the endpoint (nothing else returns it). The previous one
        keeps signing beside it until ``endpoint.previous_secret_expires_at`` (24 hours)."""
        path = endpoint_path(endpoint_id, "rotate-secret")
        return self._wire.write("POST", path, RegisteredWebhookEndpoint, None, idempotency_key)

    def webhook_endpoints(self) -> list[WebhookEndpoint]:
        """Every endpoint not deleted, oldest first (without secrets)."""
        return self._wire.read_list(v1_path("webhook-endpoints"), WebhookEndpoint)

    def webhook_endpoint(self, endpoint_id: int) -> WebhookEndpoint:
        return self._wire.read(endpoint_path(endpoint_id), WebhookEndpoint)

    def disable_webhook_endpoint(self, endpoint_id: int) -> WebhookEndpoint:
        """Stops deliveries to the endpoint until it is enabled again."""
        path = endpoint_path(endpoint_id, "disable")
        return self._wire.write("POST", path, WebhookEndpoint, None, None)

    def enable_webhook_endpoint(self, endpoint_id: int) -> WebhookEndpoint:
        path = endpoint_path(endpoint_id, "enable")
        return self._wire.write("POST", path, WebhookEndpoint, None, None)

    def delete_webhook_endpoint(self, endpoint_id: int) -> None:
        """Deletes the endpoint; what it was still owed is marked failed."""
        self._wire.call("DELETE", endpoint_path(endpoint_id))

    def webhook_deliveries(
        self,
        *,
        after_id: int = 0,
        limit: int = 100,
        endpoint_id: int | None = None,
        status: str | None = None,
    ) -> list[Delivery]:
        """Deliveries with an id above ``after_id``, oldest first, at most ``limit``; of one
        endpoint, or one status (``pending``, ``delivered``, ``failed``), when given."""
        query: dict[str, Any] = {"after_id": after_id, "limit": limit}
        if endpoint_id is not None:
            query["endpoint_id"] = row_id(endpoint_id, "endpoint_id")
        if status is not None:
            query["status"] = str(status)
        return self._wire.read_list(v1_path("webhook-deliveries"), Delivery, query)

    def set_alerts(
        self,
        customer: str,
        *,
        unit: str = "credits",
        credits_left: Quantity | str | None = None,
        percent_used: Sequence[int] = (),
    ) -> Alerts:
        """Sets the customer's own alert thresholds for ``unit``, in place of its plan's;
        neither: no alerts for the customer. Returns the thresholds in force."""
        body = {
            "unit": unit,
            "credits_left": None
            if credits_left is None
            else amount_json(credits_left, "credits_left"),
            "percent_used": list(percent_used),
        }
        alerts: Alerts = decoded(
            self._wire.call("PUT", v1_path("customers", customer, "alerts"), body), Alerts
        )
        return alerts

    def clear_alerts(self, customer: str, *, unit: str = "credits") -> Alerts:
        """Drops the customer's own thresholds for ``unit``: its plan's apply again."""
        path = v1_path("customers", customer, "alerts")
        alerts: Alerts = decoded(self._wire.call("DELETE", path, query={"unit": unit}), Alerts)
        return alerts

    def alerts(self, customer: str, *, unit: str = "credits") -> Alerts:
        """The alert thresholds in force for the customer and ``unit``, and their source."""
        return self._wire.read(v1_path("customers", customer, "alerts"), Alerts, {"unit": unit})
