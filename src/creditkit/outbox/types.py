"""The events creditkit reports through the outbox: their types (the wire names of a webhook
body's ``type``) and an event as read back. Their ``data``, by type, is described in
``creditkit.notify.schemas`` (``EVENT_DATA``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class EventType(StrEnum):
    """Every event creditkit emits. The value is the wire name (``type`` in a webhook body)."""

    CREDITS_LOW = "credits.low"
    CREDITS_DEPLETED = "credits.depleted"
    GRANT_EXPIRING = "grant.expiring"
    HOLD_EXPIRED = "hold.expired"
    SUBSCRIPTION_RENEWED = "subscription.renewed"
    SUBSCRIPTION_CHANGED = "subscription.changed"
    SUBSCRIPTION_CANCELED = "subscription.canceled"
    PAYMENT_SUCCEEDED = "payment.succeeded"
    PAYMENT_FAILED = "payment.failed"
    ALERT_TRIGGERED = "alert.triggered"
    CUSTOMER_CREATED = "customer.created"
    CREDITS_GRANTED = "credits.granted"
    CREDITS_GIFTED = "credits.gifted"
    CREDITS_RECEIVED = "credits.received"
    CREDITS_EXPIRED = "credits.expired"
    CREDITS_VOIDED = "credits.voided"
    CREDITS_REFUNDED = "credits.refunded"
    LIMIT_REACHED = "limit.reached"
    SUBSCRIPTION_PAST_DUE = "subscription.past_due"
    PAYMENT_REFUNDED = "payment.refunded"
    SUBSCRIPTION_TRIAL_ENDING = "subscription.trial_ending"
    EVENT_REFUSED = "event.refused"


@dataclass(frozen=True, slots=True)
class Event:
    """One outbound event. ``event_id`` is unique and stable: a receiver dedupes on it."""

    id: int
    event_id: str
    type: EventType
    customer: str | None
    created_at: datetime
    data: dict[str, Any] = field(default_factory=dict)
