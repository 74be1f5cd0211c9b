"""Charges, commits and quotes priced from model usage on an embedded kit: the table at the
call's time, catalog overrides, the fallback, unknown models, usage objects as SDKs return
them, and the price recorded on the transaction and shown in history."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest

from creditkit import CreditKit, ManualClock
from creditkit.catalog import parse_catalog
from creditkit.errors import HoldAmountExceeded, InvalidRequest, UnknownModel
from creditkit.pricing import PriceSource, TokenPrice, TokenUsage, token_usage

CATALOG = """
units:
  credits: {scale: 0}
  cents: {scale: 2}
actions:
  chat:
    unit: credits
    label: Chat
    tokens:
      prices: genai-prices
      markup: "1.25"
      credits_per_usd: 1000
      models:
        my-model: {input_per_million: "0.50", output_per_million: "1.50"}
        gpt-4o: {input_per_million: "1", output_per_million: "2", cache_read_per_million: "0.1"}
  agent:
    unit: cents
    tokens:
      prices: catalog
      credits_per_usd: 100
      fallback: {input_per_million: "3", output_per_million: "15"}
  strict:
    unit: credits
    tokens: {credits_per_usd: 1000}
  search: {price: 2, unit: credits}
plans:
  free: {name: Free, rank: 0, default: true}
"""
#: o3's price fell on 2025-06-10 (genai-prices keeps both).
BEFORE_CUT = datetime(2025, 6, 9, 12, tzinfo=UTC)
AFTER_CUT = datetime(2025, 6, 11, 12, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    """Starts before o3's price cut, so that a test can move across it."""
    return ManualClock(datetime(2025, 6, 1, tzinfo=UTC))


@pytest.fixture
def kit(tmp_path: Path, clock: ManualClock) -> Iterator[CreditKit]:
    kit = CreditKit(f"sqlite:///{tmp_path / 'tokens.db'}", catalog=parse_catalog(CATALOG),
                    clock=clock)  # fmt: skip
    kit.create_customer("ada")
    kit.grant("ada", 1_000_000, idempotency_key="g1")
    kit.grant("ada", "1000.00", unit="cents", idempotency_key="g2")
    yield kit
    kit.close()


def test_a_usage_is_charged_at_the_table_price_and_recorded(kit: CreditKit) -> None:
    usage = {
        "model": "claude-sonnet-4-5",
        "provider": "anthropic",
        "input_tokens": 1000,
        "output_tokens": 500,
        "cache_read_tokens": 2000,
        "cache_write_tokens": 100,
    }
    charge = kit.charge("ada", action="chat", usage=usage, idempotency_key="c1")
    # $3/M in, $15/M out, $0.30/M cache read, $3.75/M cache write:
    cost = Decimal("0.003") + Decimal("0.0075") + Decimal("0.0006") + Decimal("0.000375")
    assert cost == Decimal("0.011475")
    # * 1.25 * 1000 = 14.34375 credits, rounded up: 15.
    assert charge.amount == 15
    price = TokenPrice.from_json(charge.metadata["token_price"])
    assert price.source is PriceSource.GENAI_PRICES and price.version == "0.2.5"
    assert price.cost_usd == cost and price.provider == "anthropic"
    assert price.tokens == {"input": 1000, "output": 500, "cache_read": 2000, "cache_write": 100}
    assert price.rates["cache_read"] == Decimal("0.3")
    line = kit.history("ada").items[0]
    assert line.metadata["token_price"] == charge.metadata["token_price"]
    assert line.token_price == price
    assert kit.quote("chat", usage).price == price


def test_the_table_price_is_the_one_in_force_at_the_call(
    kit: CreditKit, clock: ManualClock
) -> None:
    usage = {"model": "o3", "input_tokens": 1_000_000, "output_tokens": 0}
    assert kit.quote("chat", usage, at=BEFORE_CUT).price.rates["input"] == 10
    assert kit.quote("chat", usage, at=AFTER_CUT).price.rates["input"] == 2
    clock.set(BEFORE_CUT)
    first = kit.charge("ada", action="chat", usage=usage, idempotency_key="o3")
    assert first.amount == 12_500  # $10 * 1.25 * 1000
    # A retry after the price changed replays the first charge: it prices as it did.
    clock.set(AFTER_CUT)
    retried = kit.charge("ada", action="chat", usage=usage, idempotency_key="o3")
    assert retried.replayed and retried.amount == 12_500 and retried.id == first.id


def test_catalog_prices_override_the_table(kit: CreditKit) -> None:
    usage = {"model": "gpt-4o", "prompt_tokens": 3000, "completion_tokens": 1000,
             "prompt_tokens_details": {"cached_tokens": 2000}}  # fmt: skip
    quote = kit.quote("chat", usage)
    assert quote.price.source is PriceSource.CATALOG and quote.price.version is None
    # 1000 * $1/M + 1000 * $2/M + 2000 * $0.10/M = $0.0032; * 1250 = 4 credits.
    assert quote.price.cost_usd == Decimal("0.0032") and quote.amount == 4


def test_the_fallback_prices_a_model_nothing_else_prices(kit: CreditKit) -> None:
    usage = {"model": "our-finetune", "input_tokens": 10, "output_tokens": 1}
    charge = kit.charge("ada", action="agent", usage=usage, idempotency_key="f1")
    # $0.000045 * 100 = 0.0045 cents of a unit with 2 places: at least one step, 0.01.
    assert charge.amount == Decimal("0.01") and charge.unit == "cents"
    assert charge.metadata["token_price"]["source"] == "fallback"
    # `prices: catalog` asks no table: a model genai-prices knows takes the fallback too.
    assert kit.quote("agent", {**usage, "model": "gpt-4o"}).price.source is PriceSource.FALLBACK


def test_an_unknown_model_is_refused_and_nothing_is_written(kit: CreditKit) -> None:
    before = kit.balance("ada").available
    usage = {"model": "no-such-model-xyz", "input_tokens": 10, "output_tokens": 1}
    with pytest.raises(UnknownModel) as refused:
        kit.charge("ada", action="strict", usage=usage, idempotency_key="u1")
    assert refused.value.field == "usage.model" and refused.value.model == "no-such-model-xyz"
    assert refused.value.code == "unknown_model"
    assert kit.balance("ada").available == before and not kit.recorded("u1")
    with pytest.raises(UnknownModel):
        kit.quote("strict", {**usage, "model": "gpt-4o", "provider": "no-such-provider"})


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        # OpenAI Chat Completions: prompt_tokens counts the cached ones.
        (SimpleNamespace(prompt_tokens=120, completion_tokens=30, total_tokens=150,
                         prompt_tokens_details=SimpleNamespace(cached_tokens=100)),
         (20, 30, 100, 0)),
        # OpenAI Responses: input_tokens counts the cached ones.
        ({"input_tokens": 120, "output_tokens": 30,
          "input_tokens_details": {"cached_tokens": 100}}, (20, 30, 100, 0)),
        # Anthropic: input_tokens does not.
        (SimpleNamespace(input_tokens=20, output_tokens=30, cache_read_input_tokens=100,
                         cache_creation_input_tokens=7), (20, 30, 100, 7)),
        (SimpleNamespace(input_tokens=20, output_tokens=30, cache_read_input_tokens=None,
                         cache_creation_input_tokens=None), (20, 30, 0, 0)),
    ],
)  # fmt: skip
def test_usage_objects_are_read_as_they_come(usage: object, expected: tuple[int, ...]) -> None:
    read = token_usage(usage, model="gpt-4o-mini")
    counts = (read.input_tokens, read.output_tokens, read.cache_read_tokens,
              read.cache_write_tokens)  # fmt: skip
    assert counts == expected and read.model == "gpt-4o-mini"


def test_a_whole_response_gives_its_model_and_usage(kit: CreditKit) -> None:
    response = SimpleNamespace(
        model="claude-haiku-4-5",
        usage=SimpleNamespace(input_tokens=5, output_tokens=7, cache_read_input_tokens=0,
                              cache_creation_input_tokens=0),
    )  # fmt: skip
    assert token_usage(response) == TokenUsage("claude-haiku-4-5", 5, 7)
    assert kit.quote("chat", response).price.model == "claude-haiku-4-5"


@pytest.mark.parametrize(
    ("usage", "field"),
    [
        ({"input_tokens": 1, "output_tokens": 1}, "usage.model"),
        ({"model": "m", "input_tokens": 1}, "usage.output_tokens"),
        ({"model": "m", "input_tokens": -1, "output_tokens": 1}, "usage.input_tokens"),
        ({"model": "m", "input_tokens": 1.5, "output_tokens": 1}, "usage.input_tokens"),
        ({"model": "m", "input_tokens": True, "output_tokens": 1}, "usage.input_tokens"),
        ({"model": "m", "input_tokens": 1, "output_tokens": 10**13}, "usage.output_tokens"),
        ({"model": "", "input_tokens": 1, "output_tokens": 1}, "usage.model"),
        ({"model": "m", "prompt_tokens": 5, "completion_tokens": 1,
          "prompt_tokens_details": {"cached_tokens": 6}},
         "usage.prompt_tokens_details.cached_tokens"),
        ({"model": "m", "input_tokens": 1, "output_tokens": 1, "cache_read_tokens": "2"},
         "usage.cache_read_tokens"),
        ("not a usage", "usage"),
    ],
)  # fmt: skip
def test_bad_usage_is_refused_naming_its_field(kit: CreditKit, usage: object, field: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        kit.charge("ada", action="chat", usage=usage, idempotency_key="bad")
    assert refused.value.field == field
    assert not kit.recorded("bad")


def test_what_goes_with_a_usage_is_checked(kit: CreditKit) -> None:
    usage = {"model": "my-model", "input_tokens": 1, "output_tokens": 1}
    cases = [
        ({"action": "chat"}, "usage"),  # a token-priced action needs the usage
        ({"action": "search", "usage": usage}, "usage"),  # priced per call, not by tokens
        ({"action": "chat", "usage": usage, "quantity": 2}, "quantity"),
        ({"usage": usage}, "action"),
        ({"action": "chat", "usage": usage, "metadata": {"token_price": 1}},
         "metadata.token_price"),
        ({"action": "chat", "usage": {**usage, "input_tokens": 0, "output_tokens": 0}}, "usage"),
    ]  # fmt: skip
    for options, field in cases:
        with pytest.raises(InvalidRequest) as refused:
            kit.charge("ada", idempotency_key="k", **options)  # type: ignore[arg-type]
        assert refused.value.field == field, options
    with pytest.raises(InvalidRequest, match="amount"):
        kit.charge("ada", 5, action="chat", usage=usage, idempotency_key="k")


def test_a_hold_commits_what_its_usage_costs(kit: CreditKit) -> None:
    hold = kit.reserve("ada", 100, action="chat", idempotency_key="r1")
    usage = {"model": "my-model", "input_tokens": 40_000, "output_tokens": 20_000}
    charge = kit.commit(hold.id, usage=usage, idempotency_key="m1")
    # $0.02 + $0.03 = $0.05; * 1250 = 62.5 -> 63.
    assert charge.amount == 63 and charge.hold_id == hold.id
    assert charge.metadata["token_price"]["source"] == "catalog"
    line = kit.history("ada").items[0]
    assert line.hold is not None and line.metadata["token_price"]["cost_usd"] == "0.05"
    commit_part = line.hold.parts[-1]
    assert commit_part.token_price is not None and commit_part.token_price.cost_usd == Decimal(
        "0.05"
    )
    assert line.hold.parts[0].token_price is None  # the reserve priced nothing
    small = kit.reserve("ada", 10, action="chat", idempotency_key="r2")
    with pytest.raises(HoldAmountExceeded):
        kit.commit(small.id, usage=usage, idempotency_key="m2")
    with pytest.raises(InvalidRequest, match="amount"):
        kit.commit(small.id, 5, usage=usage, idempotency_key="m3")


def test_a_meter_commits_its_usage(kit: CreditKit) -> None:
    with kit.metered("ada", "chat", 100, idempotency_key="stream") as meter:
        meter.usage = {"model": "my-model", "input_tokens": 1000, "output_tokens": 1000}
    assert meter.charge is not None and meter.charge.amount == 3  # $0.002 * 1250 = 2.5 -> 3
    with pytest.raises(InvalidRequest) as refused:
        kit.metered("ada", "chat")
    assert refused.value.field == "estimate"


def test_a_quote_moment_must_be_aware(kit: CreditKit) -> None:
    usage = {"model": "my-model", "input_tokens": 1, "output_tokens": 1}
    with pytest.raises(InvalidRequest) as refused:
        kit.quote("chat", usage, at=datetime(2026, 1, 1))
    assert refused.value.field == "at"
    assert kit.quote("chat", usage, at=kit.now() - timedelta(days=1)).amount == 1
