"""For random usage over EVERY model of the pinned genai-prices table, at moments around each of
its price changes: the credits equal an exact model of tokens * price * markup * credits per
USD, rounded up to the unit's scale, computed here independently with ``Fraction`` from the
table's raw prices; and the USD cost equals genai-prices' own ``calc_price``."""

from __future__ import annotations

import math
import random
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from fractions import Fraction

from genai_prices.types import (
    ConditionalPrice,
    ModelInfo,
    ModelPrice,
    StartDateConstraint,
    TieredPrices,
    Usage,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from creditkit.ledger.schemas import Unit
from creditkit.pricing.schemas import TokenPricing, TokenUsage
from creditkit.pricing.service import cost_usd, credits_for
from creditkit.pricing.table import every_model, rates_of

KEYS = {
    "input": "input_mtok",
    "output": "output_mtok",
    "cache_read": "cache_read_mtok",
    "cache_write": "cache_write_mtok",
}
#: Price keys whose cost genai-prices' calc_price computes the same way for these four counts.
COMPARABLE_KEYS = {*KEYS.values(), "requests_kcount"}
MODELS = every_model()


def moments(info: ModelInfo) -> list[datetime]:
    """A day before and on each price change, and a day of 2026 at three times of day."""
    found = [datetime.combine(date(2026, 3, 1), time(hour), UTC) for hour in (2, 12, 20)]
    if isinstance(info.prices, list):
        for conditional in info.prices:
            if isinstance(conditional.constraint, StartDateConstraint):
                start = datetime.combine(conditional.constraint.start_date, time(), UTC)
                found += [start - timedelta(days=1), start]
    return found


def raw_prices(info: ModelInfo, at: datetime) -> ModelPrice:
    """The table's price set at ``at``: the last conditional price whose constraint holds."""
    if isinstance(info.prices, ModelPrice):
        return info.prices
    chosen: ConditionalPrice = info.prices[0]
    for conditional in info.prices:
        if conditional.constraint is None or conditional.constraint.active(at):
            chosen = conditional
    return chosen.prices


def expected_credits(
    price: ModelPrice, usage: TokenUsage, markup: Fraction, per_usd: Fraction, scale: int
) -> Fraction:
    """The independent model: Fractions from the raw table, a cliff tier by whole input."""
    total_input = usage.input_tokens_total

    def per_million(kind: str) -> Fraction:
        value = getattr(price, KEYS[kind])
        if value is None and kind.startswith("cache"):
            value = price.input_mtok
        if value is None:
            return Fraction(0)
        if isinstance(value, TieredPrices):
            applicable = value.base
            for tier in value.tiers:
                if total_input > tier.start:
                    applicable = tier.price
            return Fraction(applicable)
        return Fraction(value)

    counts = usage.tokens()
    cost = sum((counts[kind] * per_million(kind) / 10**6 for kind in KEYS), Fraction(0))
    if price.requests_kcount is not None:
        cost += Fraction(price.requests_kcount) / 1000
    step = Fraction(1, 10**scale)
    return math.ceil(cost * markup * per_usd / step) * step


def random_usage(rng: random.Random, model: str) -> TokenUsage:
    def count() -> int:
        return rng.choice([0, 1, rng.randrange(1, 2_000), rng.randrange(1, 400_000), 200_000])

    return TokenUsage(model, count(), count(), count(), count())


def check(
    info: ModelInfo, provider_id: str, at: datetime, usage: TokenUsage, rng: random.Random
) -> bool:
    """One comparison; False when the model has no token prices at ``at`` (nothing to price)."""
    price = raw_prices(info, at)
    rates = rates_of(price)
    if rates is None:
        return False
    markup = Decimal(rng.choice(["1", "1.25", "1.3333", "2.5", "0.9"]))
    per_usd = Decimal(rng.choice(["1", "100", "1000", "12.5", "3"]))
    scale = rng.choice([0, 2, 4])
    pricing = TokenPricing(markup=markup, credits_per_usd=per_usd)
    cost, _, _ = cost_usd(rates, usage)
    credits = credits_for(cost, pricing, Unit("credits", scale))
    expected = expected_credits(price, usage, Fraction(markup), Fraction(per_usd), scale)
    assert Fraction(credits) == expected, (provider_id, info.id, at, usage)
    assert credits >= 0 and (cost == 0) == (credits == 0)
    keys = {key for key, value in vars(price).items() if value is not None}
    if keys <= COMPARABLE_KEYS:
        theirs = Usage(
            input_tokens=usage.input_tokens_total,
            output_tokens=usage.output_tokens,
            cache_read_tokens=usage.cache_read_tokens,
            cache_write_tokens=usage.cache_write_tokens,
        )
        assert cost == price.calc_price(theirs)["total_price"], (provider_id, info.id, usage)
    return True


def test_every_model_of_the_table_prices_exactly() -> None:
    rng = random.Random(24)
    priced = 0
    for provider_id, info in MODELS:
        for at in moments(info):
            for _ in range(2):
                priced += check(info, provider_id, at, random_usage(rng, info.id), rng)
    # The table prices most of its models by tokens: the loop compared them, not nothing.
    assert priced > len(MODELS)


@settings(max_examples=300, deadline=None)
@given(
    index=st.integers(0, len(MODELS) - 1),
    counts=st.tuples(*(st.integers(0, 10**9) for _ in range(4))),
    seed=st.integers(0, 2**32),
    day=st.dates(date(2023, 1, 1), date(2027, 12, 31)),
)
def test_random_usage_prices_exactly(
    index: int, counts: tuple[int, int, int, int], seed: int, day: date
) -> None:
    provider_id, info = MODELS[index]
    usage = TokenUsage(info.id, *counts)
    check(info, provider_id, datetime.combine(day, time(12), UTC), usage, random.Random(seed))
