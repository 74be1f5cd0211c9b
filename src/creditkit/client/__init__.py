"""``Client``: creditkit's HTTP API with ``CreditKit``'s methods (docs/client.md)."""

from creditkit.client.client import Client
from creditkit.client.errors import (
    ApiError,
    PackOffer,
    PaymentRequired,
    RateLimited,
    ServiceUnreachable,
    UpgradeOffer,
)
from creditkit.client.protocol import CreditsApi

__all__ = [
    "ApiError",
    "Client",
    "CreditsApi",
    "PackOffer",
    "PaymentRequired",
    "RateLimited",
    "ServiceUnreachable",
    "UpgradeOffer",
]
