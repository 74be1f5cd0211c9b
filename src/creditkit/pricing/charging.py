"""What a charge or a commit priced from usage carries: its amount from a quote priced at the
right moment, and the price record in its metadata."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from creditkit.clock import Clock
from creditkit.errors import InvalidRequest
from creditkit.pricing.schemas import PRICE_METADATA_KEY, Quote
from creditkit.pricing.service import PricingService


class RecordedReads(Protocol):
    """The ledger read a priced write needs."""

    def recorded_metadata(self, idempotency_key: str) -> dict[str, Any] | None: ...


def quote_for_key(
    pricing: PricingService,
    ledger: RecordedReads,
    clock: Clock,
    action: str,
    usage: object,
    key: str,
) -> Quote:
    """The quote a write under ``key`` carries: priced now, or, for a retry of a write already
    recorded, at the moment its first attempt was priced (so the retry is the same request
    and replays the first outcome, even across a price change)."""
    recorded = ledger.recorded_metadata(key)
    at = clock()
    if recorded is not None and isinstance(recorded.get(PRICE_METADATA_KEY), dict):
        at = datetime.fromisoformat(recorded[PRICE_METADATA_KEY]["priced_at"])
    return pricing.quote(action, usage, at)


def with_price(metadata: dict[str, Any] | None, quote: Quote) -> dict[str, Any]:
    """``metadata`` with the quote's price record under ``token_price``."""
    metadata = dict(metadata or {})
    if PRICE_METADATA_KEY in metadata:
        raise InvalidRequest(
            f"metadata.{PRICE_METADATA_KEY}",
            "is where creditkit records the usage's price: use another key",
        )
    metadata[PRICE_METADATA_KEY] = quote.price.as_json()
    return metadata
