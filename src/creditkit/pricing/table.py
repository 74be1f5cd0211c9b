"""Model prices from the genai-prices package the project pins (its bundled table, never a
download: prices change only with the pinned version, so a replay prices as the first run).

genai-prices writes prices as ``Decimal`` USD per million tokens (``input_mtok``,
``cache_read_mtok``, …), possibly tiered by input size, and keeps their history (a price
changed on a date): the rates are those in force at the call's time."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from importlib.metadata import version
from typing import TYPE_CHECKING

from creditkit.errors import InvariantViolation
from creditkit.pricing.schemas import ModelRates, Rate, Tier

if TYPE_CHECKING:
    from genai_prices.types import ModelInfo, ModelPrice, TieredPrices

# genai-prices is imported where first used: loading it (and its table) takes about a second,
# which a kit without token-priced actions never pays.

#: The genai-prices price keys this module reads: the four token kinds and a per-request part.
_TOKEN_KEYS = {
    "input": "input_mtok",
    "output": "output_mtok",
    "cache_read": "cache_read_mtok",
    "cache_write": "cache_write_mtok",
}
_REQUESTS_KEY = "requests_kcount"


@functools.cache
def table_version() -> str:
    """The installed (pinned) genai-prices version, recorded with every price from it."""
    return version("genai-prices")


@dataclass(frozen=True, slots=True)
class TableRates:
    """A model's rates from the table, and which provider and model they are."""

    rates: ModelRates
    provider: str
    model: str


def table_rates(model: str, provider: str | None, at: datetime) -> TableRates | None:
    """The rates in force at ``at`` for ``model`` (of ``provider``, else the provider the
    table matches from the model's name); None when the table does not price the model by
    tokens (unknown, or priced by other units only)."""
    from genai_prices import data_snapshot

    snapshot = data_snapshot.get_snapshot()
    try:
        found_provider, info = snapshot.find_provider_model(model, None, provider, None)
    except LookupError:
        return None
    rates = rates_of(info.get_prices(at))
    if rates is None:
        return None
    return TableRates(rates, found_provider.id, info.id)


def rates_of(price: ModelPrice) -> ModelRates | None:
    """One set of genai-prices prices as ``ModelRates``; None without an input or an output
    token price (a model priced by images, seconds or requests only)."""
    from genai_prices.types import TieredPrices

    rates = {kind: _rate(getattr(price, key)) for kind, key in _TOKEN_KEYS.items()}
    if rates["input"] is None and rates["output"] is None:
        return None
    requests = getattr(price, _REQUESTS_KEY)
    if isinstance(requests, TieredPrices):
        raise InvariantViolation("genai-prices tiers a per-request price", repr(price))
    zero = Rate(Decimal(0))
    return ModelRates(
        input_per_million=rates["input"] or zero,
        output_per_million=rates["output"] or zero,
        cache_read_per_million=rates["cache_read"],
        cache_write_per_million=rates["cache_write"],
        requests_per_thousand=requests,
    )


def _rate(value: Decimal | TieredPrices | None) -> Rate | None:
    from genai_prices.types import TieredPrices

    if value is None:
        return None
    if isinstance(value, TieredPrices):
        return Rate(value.base, tuple(Tier(tier.start, tier.price) for tier in value.tiers))
    if not isinstance(value, Decimal):
        # genai-prices validates its prices as Decimal; anything else is not exact.
        raise InvariantViolation("genai-prices gave a price that is not a Decimal", repr(value))
    return Rate(value)


def every_model() -> list[tuple[str, ModelInfo]]:
    """(provider id, model) for every model of the bundled table (the property test's
    domain)."""
    from genai_prices import data_snapshot

    snapshot = data_snapshot.get_snapshot()
    return [(provider.id, info) for provider in snapshot.providers for info in provider.models]
