"""Outbound events (an outbox written with each change), webhooks and alerts (docs/notify.md).

A receiver of creditkit's webhooks checks each one with ``verify_signature``."""

from creditkit.notify.errors import InvalidSignature, WebhookEndpointNotFound
from creditkit.notify.schemas import (
    Alerts,
    AlertSource,
    Delivery,
    DeliveryStatus,
    Event,
    EventType,
    RegisteredWebhookEndpoint,
    WebhookEndpoint,
    WorkerReport,
)
from creditkit.notify.signing import EVENT_ID_HEADER, SIGNATURE_HEADER, verify_signature

__all__ = [
    "EVENT_ID_HEADER",
    "SIGNATURE_HEADER",
    "AlertSource",
    "Alerts",
    "Delivery",
    "DeliveryStatus",
    "Event",
    "EventType",
    "InvalidSignature",
    "RegisteredWebhookEndpoint",
    "WebhookEndpoint",
    "WebhookEndpointNotFound",
    "WorkerReport",
    "verify_signature",
]
