"""An action's ``tokens``: checked like every other field, each problem on its line, and the
JSON Schema agrees on what is valid."""

from __future__ import annotations

import json
from decimal import Decimal
from importlib.resources import files

import jsonschema
import pytest
import yaml

from creditkit.catalog import CatalogInvalid, parse_catalog
from creditkit.pricing import Rate, TablePolicy

SOURCE = "catalog.yaml"
HEAD = """units: {credits: {scale: 0}}
plans: {free: {name: Free, rank: 0, default: true}}
actions:
  chat:
    unit: credits
"""


def problems(text: str) -> list[str]:
    with pytest.raises(CatalogInvalid) as caught:
        parse_catalog(text, SOURCE)
    return [str(problem) for problem in caught.value.problems]


def schema_accepts(text: str) -> bool:
    schema = json.loads(files("creditkit.catalog").joinpath("schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    return not list(validator.iter_errors(yaml.safe_load(text)))


def test_the_contract_form_loads() -> None:
    text = (
        HEAD
        + """    label: Chat
    tokens: {prices: genai-prices, markup: "1.25", credits_per_usd: 1000}
"""
    )
    tokens = parse_catalog(text, SOURCE).actions["chat"].tokens
    assert tokens is not None and tokens.prices is TablePolicy.GENAI_PRICES
    assert tokens.markup == Decimal("1.25") and tokens.credits_per_usd == 1000
    assert parse_catalog(text, SOURCE).actions["chat"].price == 0
    assert schema_accepts(text)


def test_models_and_a_fallback_load() -> None:
    text = (
        HEAD
        + """    tokens:
      prices: catalog
      credits_per_usd: "12.5"
      models:
        my-model: {input_per_million: "0.50", output_per_million: "1.50",
                   cache_read_per_million: "0.05", cache_write_per_million: 1}
      fallback: {input_per_million: 3, output_per_million: 15}
"""
    )
    tokens = parse_catalog(text, SOURCE).actions["chat"].tokens
    assert tokens is not None and tokens.markup == 1
    rates = tokens.models["my-model"]
    assert rates.cache_read_per_million == Rate(Decimal("0.05"))
    assert rates.cache_write_per_million == Rate(Decimal(1))
    assert tokens.fallback is not None and tokens.fallback.output_per_million == Rate(Decimal(15))
    assert schema_accepts(text)


@pytest.mark.parametrize(
    ("tail", "expected"),
    [
        ("    price: 1\n    tokens: {credits_per_usd: 1}\n",
         "catalog.yaml:4: actions.chat: write price (credits per call) or tokens"),
        ("    label: Chat\n",
         "catalog.yaml:4: actions.chat: write price (credits per call) or tokens"),
        ("    tokens: {markup: 1.25, credits_per_usd: 1000}\n",
         "catalog.yaml:6: actions.chat.tokens.markup: 1.25 is a float"),
        ("    tokens: {markup: \"1.25\"}\n",
         "catalog.yaml:6: actions.chat.tokens.credits_per_usd: missing"),
        ("    tokens:\n      credits_per_usd: 0\n",
         "catalog.yaml:7: actions.chat.tokens.credits_per_usd: must be positive, got 0"),
        ("    tokens:\n      credits_per_usd: 1\n      prices: litellm\n",
         "catalog.yaml:8: actions.chat.tokens.prices: expected one of"),
        ("    tokens:\n      credits_per_usd: 1\n      prices: catalog\n",
         "catalog.yaml:8: actions.chat.tokens.prices: `catalog` prices only the catalog's"),
        ("    tokens:\n      credits_per_usd: 1\n      models:\n"
         "        m: {input_per_million: \"-1\", output_per_million: 1}\n",
         "catalog.yaml:9: actions.chat.tokens.models.m.input_per_million: expected a decimal"),
        ("    tokens:\n      credits_per_usd: 1\n      models:\n"
         "        m: {input_per_million: 1}\n",
         "catalog.yaml:9: actions.chat.tokens.models.m.output_per_million: missing"),
        ("    tokens:\n      credits_per_usd: 1\n      fallback: {input: 1}\n",
         "catalog.yaml:8: actions.chat.tokens.fallback.input: unknown key"),
        ("    tokens:\n      credits_per_usd: 1\n      markups: 2\n",
         "catalog.yaml:8: actions.chat.tokens.markups: unknown key; did you mean 'markup'?"),
    ],
)  # fmt: skip
def test_problems_name_their_line_and_field(tail: str, expected: str) -> None:
    found = problems(HEAD + tail)
    assert any(problem.startswith(expected) for problem in found), found
    assert not schema_accepts(HEAD + tail) or "catalog` prices only" in expected
