"""The kit's events, webhooks and alerts (``CreditKit``'s methods: see kit/__init__.py)."""

from __future__ import annotations

from collections.abc import Sequence

from creditkit.errors import Quantity
from creditkit.kit.parts import KitParts
from creditkit.ledger.schemas import Charge
from creditkit.notify.schemas import (
    Alerts,
    Delivery,
    Event,
    EventType,
    RegisteredWebhookEndpoint,
    WebhookEndpoint,
)


class KitNotify(KitParts):
    """Outbound events, webhook endpoints and alerts (see docs/notify.md)."""

    def events(
        self,
        after_id: int = 0,
        limit: int = 100,
        *,
        customer: str | None = None,
        type: str | EventType | None = None,
    ) -> list[Event]:
        """Outbound events with an id above ``after_id``, oldest first, at most ``limit`` (up to
        500); only the ``customer``'s, or of one ``type``, when given. Page on with the last
        event's ``id``. Raises ``UnknownCustomer``, or ``InvalidRequest`` for a bad field."""
        return self._webhooks.events(after_id, limit, customer, type)

    def register_webhook_endpoint(
        self,
        url: str,
        *,
        idempotency_key: str,
        event_types: Sequence[str | EventType] | None = None,
    ) -> RegisteredWebhookEndpoint:
        """Registers an http(s) ``url`` to receive events (only ``event_types``, when given),
        enabled. The answer holds the signing ``secret``: show it to the user now, nothing else
        returns it (a replay of the ``idempotency_key`` excepted). At most 100 endpoints."""
        return self._webhooks.register(url, event_types, idempotency_key)

    def rotate_webhook_secret(
        self, endpoint_id: int, *, idempotency_key: str
    ) -> RegisteredWebhookEndpoint:
        """Gives the endpoint a new signing ``secret`` (in the answer only). Deliveries are
        signed with the old one too for 24 hours (``endpoint.previous_secret_expires_at``), so
        the receiver can switch without refusing any. Raises ``WebhookEndpointNotFound``."""
        return self._webhooks.rotate_secret(endpoint_id, idempotency_key)

    def webhook_endpoints(self) -> list[WebhookEndpoint]:
        """Every endpoint not deleted, oldest first (without secrets)."""
        return self._webhooks.endpoints()

    def webhook_endpoint(self, endpoint_id: int) -> WebhookEndpoint:
        """Raises ``WebhookEndpointNotFound`` for an unknown or deleted id."""
        return self._webhooks.endpoint(endpoint_id)

    def disable_webhook_endpoint(self, endpoint_id: int) -> WebhookEndpoint:
        """Stops deliveries to the endpoint: it is owed nothing of the events meanwhile, and
        what it was owed before waits until it is enabled again."""
        return self._webhooks.set_enabled(endpoint_id, False)

    def enable_webhook_endpoint(self, endpoint_id: int) -> WebhookEndpoint:
        return self._webhooks.set_enabled(endpoint_id, True)

    def delete_webhook_endpoint(self, endpoint_id: int) -> None:
        """Deletes the endpoint; what it was still owed is marked failed."""
        self._webhooks.delete(endpoint_id)

    def webhook_deliveries(
        self,
        *,
        after_id: int = 0,
        limit: int = 100,
        endpoint_id: int | None = None,
        status: str | None = None,
    ) -> list[Delivery]:
        """Deliveries (one per event and endpoint) with an id above ``after_id``, oldest first,
        at most ``limit`` (up to 500); of one endpoint, or one status (``pending``,
        ``delivered``, ``failed``), when given."""
        return self._webhooks.deliveries(after_id, limit, endpoint_id, status)

    def set_alerts(
        self,
        customer: str,
        *,
        unit: str = "credits",
        credits_left: Quantity | str | None = None,
        percent_used: Sequence[int] = (),
    ) -> Alerts:
        """Sets the customer's own alert thresholds for ``unit``, in place of its plan's:
        ``credits.low`` at ``credits_left`` or fewer, ``alert.triggered`` as each of
        ``percent_used`` (increasing, 1 to 100) percent of the period's allowance is used.
        Neither: no alerts for the customer. Returns the thresholds in force."""
        return self._alerts.set_alerts(customer, unit, credits_left, percent_used)

    def clear_alerts(self, customer: str, *, unit: str = "credits") -> Alerts:
        """Drops the customer's own thresholds for ``unit``: its plan's apply again."""
        return self._alerts.clear_alerts(customer, unit)

    def alerts(self, customer: str, *, unit: str = "credits") -> Alerts:
        """The alert thresholds in force for the customer and ``unit``, and their source."""
        return self._alerts.alerts(customer, unit)

    def alert_crossed(self, charge: Charge) -> bool | None:
        """Whether ``charge`` took its customer's credits across an alert threshold in force
        (``AlertService.crossed``): from what its grants paid plus what was left, down to
        what was left. None on a retry's answer: the first answer said it."""
        if charge.available_after is None or charge.replayed:
            return None
        paid = sum((draw.amount for draw in charge.draws), start=0)
        before = charge.available_after + paid
        return self._alerts.crossed(charge.customer, charge.unit, before, charge.available_after)
