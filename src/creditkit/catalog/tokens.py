"""An action's ``tokens``: priced from model usage (docs/tokens.md)::

    tokens:
      prices: genai-prices          # or catalog: only the models below, and the fallback
      markup: "1.25"                # times the model's cost (default 1)
      credits_per_usd: 1000         # credits one US dollar buys
      models:                       # override the table, by the model name usages give
        my-model: {input_per_million: "0.50", output_per_million: "1.50"}
      fallback: {input_per_million: "1", output_per_million: "3"}   # any other model

Numbers are exact: integers, or decimals in quotes; a float is refused (not exact)."""

from __future__ import annotations

import re
from decimal import Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING, Final

from creditkit.pricing.schemas import ModelRates, Rate, TablePolicy, TokenPricing
from creditkit.pricing.usage import MODEL_LENGTH_MAX

if TYPE_CHECKING:
    from creditkit.catalog.reader import Field, Reader

_TOKENS_KEYS: Final = ("prices", "markup", "credits_per_usd", "models", "fallback")
_RATE_KEYS: Final = (
    "input_per_million",
    "output_per_million",
    "cache_read_per_million",
    "cache_write_per_million",
)
#: Characters of a price or factor, at most: far beyond any real price's precision.
DECIMAL_LENGTH_MAX: Final = 40
_ZERO: Final = Decimal(0)
#: Digits with at most one point, no sign, no exponent ("0.50", "1000").
_DECIMAL_TEXT: Final = re.compile(r"[0-9]+(\.[0-9]+)?")


def token_pricing(r: Reader, where: Field) -> TokenPricing:
    fields = r.mapping(where, _TOKENS_KEYS, required=("credits_per_usd",))
    policy = TablePolicy.GENAI_PRICES
    prices_field = fields.get("prices")
    if prices_field is not None:
        policy = r.choice(prices_field, TablePolicy, TablePolicy.GENAI_PRICES)
    markup_field = fields.get("markup")
    markup = Decimal(1) if markup_field is None else _decimal(r, markup_field, positive=True)
    models_field = fields.get("models")
    models: dict[str, ModelRates] = {}
    for name, child in [] if models_field is None else r.pairs(models_field) or []:
        if not name.strip() or len(name) > MODEL_LENGTH_MAX:
            r.report(child, f"a model name is 1 to {MODEL_LENGTH_MAX} characters")
        models[name] = _rates(r, child)
    fallback_field = fields.get("fallback")
    pricing = TokenPricing(
        markup=markup,
        credits_per_usd=_decimal(r, fields.get("credits_per_usd"), positive=True),
        prices=policy,
        models=MappingProxyType(models),
        fallback=None if fallback_field is None else _rates(r, fallback_field),
    )
    if (
        policy is TablePolicy.CATALOG
        and not models
        and pricing.fallback is None
        and prices_field is not None
        and r.ok(where)
    ):
        r.report(prices_field, "`catalog` prices only the catalog's models: add models or a"
                 " fallback, or use genai-prices")  # fmt: skip
    return pricing


def _rates(r: Reader, where: Field) -> ModelRates:
    """``{input_per_million, output_per_million, cache_read_per_million,
    cache_write_per_million}``: USD per million tokens; the cache rates default to the input
    rate."""
    fields = r.mapping(where, _RATE_KEYS, required=_RATE_KEYS[:2])

    def optional(key: str) -> Rate | None:
        child = fields.get(key)
        return None if child is None else Rate(_decimal(r, child, positive=False))

    return ModelRates(
        input_per_million=Rate(_decimal(r, fields.get("input_per_million"), positive=False)),
        output_per_million=Rate(_decimal(r, fields.get("output_per_million"), positive=False)),
        cache_read_per_million=optional("cache_read_per_million"),
        cache_write_per_million=optional("cache_write_per_million"),
    )


def _decimal(r: Reader, where: Field | None, *, positive: bool) -> Decimal:
    """An exact number: an integer, or a decimal in quotes ("0.50"); never a float."""
    if where is None:
        return _ZERO
    value = r.plain(where)
    if isinstance(value, float):
        source = str(where.node.value)
        r.report(where, f'{source} is a float, and floats are not exact: write "{source}"')
        return _ZERO
    if isinstance(value, bool) or not isinstance(value, int | str):
        r.report(where, f"expected a number, got {type(value).__name__}")
        return _ZERO
    text = str(value)
    if len(text) > DECIMAL_LENGTH_MAX or not _DECIMAL_TEXT.fullmatch(text):
        r.report(
            where, f"expected a decimal number such as 0.50, got {text[:DECIMAL_LENGTH_MAX]!r}"
        )
        return _ZERO
    number = Decimal(text)
    if positive and number <= 0:
        r.report(where, f"must be positive, got {text}")
    return number
