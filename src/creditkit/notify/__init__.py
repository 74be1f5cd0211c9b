"""Outbound events (an outbox written with each change), webhooks and alerts."""

from creditkit.notify.schemas import Event, EventType

__all__ = ["Event", "EventType"]
