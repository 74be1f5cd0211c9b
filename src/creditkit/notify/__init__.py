"""Outbound events (an outbox written with each change), webhooks and alerts (docs/notify.md).

A receiver of creditkit's webhooks checks each one with ``verify_signature`` (or any
Standard Webhooks library)."""

from creditkit.notify.errors import (
    InvalidSignature,
    SecretKeyMissing,
    SecretKeyWrong,
    WebhookEndpointNotFound,
)
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
from creditkit.notify.signing import (
    ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    verify_signature,
)

__all__ = [
    "ID_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "AlertSource",
    "Alerts",
    "Delivery",
    "DeliveryStatus",
    "Event",
    "EventType",
    "InvalidSignature",
    "RegisteredWebhookEndpoint",
    "SecretKeyMissing",
    "SecretKeyWrong",
    "WebhookEndpoint",
    "WebhookEndpointNotFound",
    "WorkerReport",
    "verify_signature",
]
