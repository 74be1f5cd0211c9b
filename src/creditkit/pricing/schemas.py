"""The types of token pricing: what the catalog says (``TokenPricing``), what a model call used
(``TokenUsage``), and the price a usage was charged at (``TokenPrice``, recorded on the
transaction) with the credits it came to (``Quote``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final

from creditkit.errors import Quantity

#: The kinds of tokens a usage counts, each priced at its own rate. They do not overlap:
#: ``input`` is the input neither read from nor written to the prompt cache.
TOKEN_KINDS: Final = ("input", "output", "cache_read", "cache_write")
#: Prices are per million tokens (as providers and genai-prices write them).
TOKENS_PER_PRICE: Final = 1_000_000
#: A per-request price (genai-prices' ``requests_kcount``) is per thousand requests.
REQUESTS_PER_PRICE: Final = 1_000
#: The metadata key a charge priced from usage records its ``TokenPrice`` under.
PRICE_METADATA_KEY: Final = "token_price"


class PriceSource(StrEnum):
    """Where a model's rates came from."""

    #: The pinned genai-prices package's table, at the call's time.
    GENAI_PRICES = "genai-prices"
    #: The action's ``models`` entry in the catalog (it overrides the table).
    CATALOG = "catalog"
    #: The action's ``fallback`` in the catalog (a model neither priced).
    FALLBACK = "fallback"


class TablePolicy(StrEnum):
    """The catalog's ``prices``: which table prices models the catalog does not name."""

    GENAI_PRICES = "genai-prices"
    #: Only the catalog's ``models`` (and its ``fallback``): no table.
    CATALOG = "catalog"


@dataclass(frozen=True, slots=True)
class Tier:
    """Above ``start`` input tokens (all of them: cache reads and writes included), every token
    of the kind pays ``price`` (genai-prices' "cliff" tiers)."""

    start: int
    price: Decimal


@dataclass(frozen=True, slots=True)
class Rate:
    """USD per million tokens of one kind: ``base``, or a tier's price above its start."""

    base: Decimal
    tiers: tuple[Tier, ...] = ()

    def at(self, input_tokens_total: int) -> Decimal:
        """The price per million for a call with ``input_tokens_total`` input tokens."""
        for tier in sorted(self.tiers, key=lambda tier: tier.start, reverse=True):
            if input_tokens_total > tier.start:
                return tier.price
        return self.base


@dataclass(frozen=True, slots=True)
class ModelRates:
    """A model's prices in USD: per million tokens of each kind, and per thousand requests.

    A cache rate left out (``None``) is the input rate: those tokens are input the provider
    did not discount (as genai-prices counts them)."""

    input_per_million: Rate
    output_per_million: Rate
    cache_read_per_million: Rate | None = None
    cache_write_per_million: Rate | None = None
    requests_per_thousand: Decimal | None = None

    def per_million(self, kind: str, input_tokens_total: int) -> Decimal:
        """The rate of ``kind`` (one of ``TOKEN_KINDS``) for a call of that input size."""
        rate = {
            "input": self.input_per_million,
            "output": self.output_per_million,
            "cache_read": self.cache_read_per_million or self.input_per_million,
            "cache_write": self.cache_write_per_million or self.input_per_million,
        }[kind]
        return rate.at(input_tokens_total)


@dataclass(frozen=True, slots=True)
class TokenPricing:
    """An action priced from model usage (the catalog's ``tokens``): the model's cost in USD
    times ``markup`` times ``credits_per_usd`` credits, rounded up to the unit's scale.

    ``models`` are the catalog's own per-model prices (by the model name a usage gives); they
    override the table. ``fallback`` prices a model neither prices; without one such a model
    is refused (``UnknownModel``)."""

    markup: Decimal
    credits_per_usd: Decimal
    prices: TablePolicy = TablePolicy.GENAI_PRICES
    models: Mapping[str, ModelRates] = field(default_factory=lambda: MappingProxyType({}))
    fallback: ModelRates | None = None


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """What one model call used, in non-overlapping token counts (see ``TOKEN_KINDS``)."""

    model: str
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    provider: str | None = None

    def tokens(self) -> dict[str, int]:
        """The counts by kind, in ``TOKEN_KINDS`` order."""
        return {
            "input": self.input_tokens,
            "output": self.output_tokens,
            "cache_read": self.cache_read_tokens,
            "cache_write": self.cache_write_tokens,
        }

    @property
    def input_tokens_total(self) -> int:
        """Every input token, cached or not: what price tiers are chosen by."""
        return self.input_tokens + self.cache_read_tokens + self.cache_write_tokens


@dataclass(frozen=True, slots=True)
class TokenPrice:
    """The price a usage was charged at: recorded on its transaction (under the metadata key
    ``token_price``), so history, replays and audits show what was charged and why.

    ``rates`` are USD per million tokens of each kind as applied (a tier resolved, a missing
    cache rate as the input rate); ``requests_per_thousand`` the per-request part, if any.
    ``cost_usd`` is exact: sum of tokens * rate / 1,000,000 (+ the request price / 1,000).
    ``version`` is the genai-prices package version for its source, else None; ``priced_at``
    the moment whose prices applied."""

    source: PriceSource
    version: str | None
    priced_at: datetime
    model: str
    provider: str | None
    rates: Mapping[str, Decimal]
    tokens: Mapping[str, int]
    cost_usd: Decimal
    markup: Decimal
    credits_per_usd: Decimal
    requests_per_thousand: Decimal | None = None
    #: The table's own model id the name matched (genai-prices only).
    table_model: str | None = None

    def as_json(self) -> dict[str, Any]:
        """Decimals as exact strings, the moment in ISO 8601: JSON that reads back equal."""
        return {
            "source": self.source.value,
            "version": self.version,
            "priced_at": self.priced_at.isoformat(),
            "model": self.model,
            "provider": self.provider,
            "table_model": self.table_model,
            "rates": {kind: str(rate) for kind, rate in self.rates.items()},
            "requests_per_thousand": None
            if self.requests_per_thousand is None
            else str(self.requests_per_thousand),
            "tokens": dict(self.tokens),
            "cost_usd": str(self.cost_usd),
            "markup": str(self.markup),
            "credits_per_usd": str(self.credits_per_usd),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TokenPrice:
        """The record back from ``as_json`` (a transaction's metadata, an API answer)."""
        requests = data.get("requests_per_thousand")
        return cls(
            source=PriceSource(data["source"]),
            version=data.get("version"),
            priced_at=datetime.fromisoformat(data["priced_at"]),
            model=data["model"],
            provider=data.get("provider"),
            table_model=data.get("table_model"),
            rates={kind: Decimal(rate) for kind, rate in data["rates"].items()},
            requests_per_thousand=None if requests is None else Decimal(requests),
            tokens={kind: int(count) for kind, count in data["tokens"].items()},
            cost_usd=Decimal(data["cost_usd"]),
            markup=Decimal(data["markup"]),
            credits_per_usd=Decimal(data["credits_per_usd"]),
        )


@dataclass(frozen=True, slots=True)
class Quote:
    """What a usage costs under an action: ``amount`` of ``unit`` (rounded up to the unit's
    scale; see docs/tokens.md), and the ``price`` it was computed at."""

    action: str
    unit: str
    amount: Quantity
    price: TokenPrice
