"""Token pricing: model calls' usage into credits (docs/tokens.md)."""

from creditkit.pricing.schemas import (
    ModelRates,
    PriceSource,
    Quote,
    Rate,
    TablePolicy,
    Tier,
    TokenPrice,
    TokenPricing,
    TokenUsage,
)
from creditkit.pricing.usage import token_usage

__all__ = [
    "ModelRates",
    "PriceSource",
    "Quote",
    "Rate",
    "TablePolicy",
    "Tier",
    "TokenPrice",
    "TokenPricing",
    "TokenUsage",
    "token_usage",
]
