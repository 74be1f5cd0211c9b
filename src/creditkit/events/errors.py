"""The events stream's errors."""

from __future__ import annotations

from creditkit.errors import CreditKitError

#: What a 503 of ``POST /v1/events`` tells the caller to wait before retrying, in seconds.
EVENTS_RETRY_AFTER_SECONDS = 1


class EventsUnavailable(CreditKitError):
    """JetStream did not acknowledge the events in time (no node answered, no leader yet): none
    of them may be counted on; a retry with the same keys is safe (the stream and the ledger
    dedupe on them)."""

    code = "events_unavailable"

    def __init__(self, reason: str, doing: str = "acknowledge") -> None:
        super().__init__(f"the events stream did not {doing}: {reason}")
        self.reason = reason


class EventsNotConfigured(CreditKitError):
    """A read of the events stream (the workers' lag) on a server started without one."""

    code = "events_not_configured"

    def __init__(self) -> None:
        super().__init__(
            "this server has no events stream: start it with --events nats://host:4222[,…]"
            " (or CREDITKIT_EVENTS_URL, or events in the config file)"
        )
