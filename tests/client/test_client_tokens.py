"""Token-priced charges over HTTP and through ``Client``: the same amounts and price records as
the embedded kit, usage objects crossing the wire as their counts, and an unknown model a 422
problem naming ``usage.model``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from creditkit import CreditKit, ManualClock
from creditkit.catalog import parse_catalog
from creditkit.client import Client
from creditkit.errors import InvalidRequest, UnknownModel
from creditkit.notify.outbound import OutboundPolicy
from creditkit.pricing import PriceSource

CATALOG = """
units: {credits: {scale: 0}}
actions:
  chat:
    unit: credits
    label: Chat
    tokens:
      markup: "1.25"
      credits_per_usd: 1000
      models: {my-model: {input_per_million: "0.50", output_per_million: "1.50"}}
plans:
  free: {name: Free, rank: 0, default: true}
"""
USAGE = {"model": "my-model", "input_tokens": 40_000, "output_tokens": 20_000}


@pytest.fixture
def kit(tmp_path: Path, clock: ManualClock) -> Iterator[CreditKit]:
    kit = CreditKit(
        f"sqlite:///{tmp_path / 'tokens.db'}",
        catalog=parse_catalog(CATALOG),
        clock=clock,
        webhook_policy=OutboundPolicy(allow_private=True),
    )
    kit.create_customer("ada")
    kit.grant("ada", 10_000, idempotency_key="g1")
    yield kit
    kit.close()


def test_a_charge_by_usage_over_the_client_equals_the_kits(kit: CreditKit, client: Client) -> None:
    answer = client.charge("ada", action="chat", usage=USAGE, idempotency_key="c1")
    assert answer.amount == 63  # $0.05 * 1.25 * 1000 = 62.5, rounded up
    assert answer.metadata["token_price"] == kit.quote("chat", USAGE).price.as_json()
    line = client.history("ada").items[0]
    assert line.metadata["token_price"]["cost_usd"] == "0.05"
    assert line.token_price == kit.history("ada").items[0].token_price
    assert line.token_price is not None and line.token_price.cost_usd == Decimal("0.05")
    end = kit.now() + timedelta(seconds=1)
    by_model = client.usage_by_model("ada", start=kit.now() - timedelta(days=1), end=end)
    assert by_model == kit.usage_by_model("ada", start=kit.now() - timedelta(days=1), end=end)
    (line_of_model,) = by_model.models
    assert (line_of_model.model, line_of_model.calls, line_of_model.spent) == ("my-model", 1, 63)


def test_an_sdk_usage_object_crosses_the_wire_as_its_counts(client: Client) -> None:
    completion = SimpleNamespace(
        model="my-model",
        usage=SimpleNamespace(prompt_tokens=50_000, completion_tokens=20_000,
                              prompt_tokens_details=SimpleNamespace(cached_tokens=10_000)),
    )  # fmt: skip
    quote = client.quote("chat", completion)
    assert quote.amount == 69 and quote.price.source is PriceSource.CATALOG  # 68.75 up
    assert quote.price.tokens == {"input": 40_000, "output": 20_000, "cache_read": 10_000,
                                  "cache_write": 0}  # fmt: skip
    assert quote.price.cost_usd == Decimal("0.055")


def test_a_hold_commits_its_usage_over_the_client(client: Client) -> None:
    hold = client.reserve("ada", 100, action="chat", idempotency_key="r1")
    committed = client.commit(hold.id, usage=USAGE, idempotency_key="m1")
    assert committed.amount == 63 and committed.metadata["token_price"]["source"] == "catalog"
    with client.metered("ada", "chat", 100) as meter:
        meter.usage = USAGE
    assert meter.charge is not None and meter.charge.amount == 63


def test_an_unknown_model_is_a_422_problem_naming_the_field(
    kit: CreditKit, client: Client, base_url: str, secret: str
) -> None:
    usage = {"model": "no-such-model-xyz", "input_tokens": 1, "output_tokens": 1}
    with pytest.raises(UnknownModel) as refused:
        client.charge("ada", action="chat", usage=usage, idempotency_key="u1")
    assert refused.value.field == "usage.model" and refused.value.model == "no-such-model-xyz"
    response = httpx.post(
        f"{base_url}/v1/charges",
        json={"customer": "ada", "action": "chat", "usage": usage},
        headers={"Authorization": f"Bearer {secret}", "Idempotency-Key": "u2"},
    )
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == "unknown_model"
    assert problem["invalid_params"][0]["name"] == "usage.model"
    assert kit.balance("ada").available == 10_000


def test_bad_usage_over_http_names_its_field(base_url: str, secret: str) -> None:
    usage = {"model": "my-model", "prompt_tokens": 5, "completion_tokens": -1}
    response = httpx.post(
        f"{base_url}/v1/quotes",
        json={"action": "chat", "usage": usage},
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert response.status_code == 422
    assert response.json()["invalid_params"][0]["name"] == "usage.completion_tokens"


def test_the_client_checks_a_usage_before_sending(client: Client) -> None:
    with pytest.raises(InvalidRequest) as refused:
        client.charge("ada", action="chat", usage={"model": "my-model"}, idempotency_key="x")
    assert refused.value.field == "usage.input_tokens"
