"""Errors of outbound events, webhooks and alerts."""

from __future__ import annotations

from creditkit.errors import CreditKitError


class WebhookEndpointNotFound(CreditKitError, LookupError):
    """No webhook endpoint has this id (or it was deleted)."""

    code = "webhook_endpoint_not_found"

    def __init__(self, endpoint_id: int) -> None:
        super().__init__(f"no webhook endpoint {endpoint_id}")
        self.endpoint_id = endpoint_id


class InvalidSignature(CreditKitError):
    """A webhook's Standard Webhooks headers do not prove that creditkit sent this body
    recently with the endpoint's secret; ``reason`` says which part failed."""

    code = "invalid_signature"

    def __init__(self, reason: str) -> None:
        super().__init__(f"webhook signature: {reason}")
        self.reason = reason


class SecretKeyMissing(CreditKitError):
    """Webhook secrets are encrypted at rest, and this ledger has no secret key to do it."""

    code = "secret_key_missing"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SecretKeyWrong(CreditKitError):
    """The secret key is malformed, or is not the one the stored secrets were sealed with."""

    code = "secret_key_wrong"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
