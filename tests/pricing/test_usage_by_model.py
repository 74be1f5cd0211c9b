"""Usage by model: tokens, cost and credits per model, costliest first with the spender that
spent most on it; the dashboard's insight names that model and agent."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest

import creditkit.server.app  # noqa: F401  (the web modules load through the app, in its order)
from creditkit import CreditKit, ManualClock
from creditkit.catalog import parse_catalog
from creditkit.web.context import Pages
from creditkit.web.dashboard import _model_insights

CATALOG = """
units: {credits: {scale: 0}}
actions:
  chat:
    unit: credits
    tokens:
      credits_per_usd: 1000
      models:
        small: {input_per_million: "1", output_per_million: "2"}
        large: {input_per_million: "10", output_per_million: "20"}
  search: {price: 2, unit: credits}
plans:
  free: {name: Free, rank: 0, default: true}
"""


@pytest.fixture
def kit(tmp_path: Path, clock: ManualClock) -> Iterator[CreditKit]:
    kit = CreditKit(f"sqlite:///{tmp_path / 'models.db'}", catalog=parse_catalog(CATALOG),
                    clock=clock)  # fmt: skip
    kit.create_customer("ada")
    kit.grant("ada", 1_000_000, idempotency_key="g1")
    kit.create_spender("ada", "einstein", kind="agent")
    kit.create_spender("ada", "confucius", kind="agent")
    yield kit
    kit.close()


def spend(kit: CreditKit, key: str, model: str, spender: str, tokens: int) -> None:
    usage = {"model": model, "input_tokens": tokens, "output_tokens": tokens}
    kit.charge("ada", action="chat", usage=usage, spender=spender, idempotency_key=key)


def test_usage_by_model_sums_tokens_cost_and_credits(kit: CreditKit, clock: ManualClock) -> None:
    start = kit.now()
    spend(kit, "a", "small", "einstein", 100_000)  # $0.30 -> 300 credits
    spend(kit, "b", "large", "confucius", 10_000)  # $0.30 -> 300 credits
    spend(kit, "c", "large", "einstein", 5_000)  # $0.15 -> 150 credits
    spend(kit, "d", "large", "confucius", 1_000)  # $0.03 -> 30 credits
    hold = kit.reserve("ada", 100, action="chat", idempotency_key="h")
    kit.commit(hold.id, usage={"model": "small", "input_tokens": 1, "output_tokens": 0},
               idempotency_key="h-commit")  # fmt: skip
    kit.charge("ada", action="search", idempotency_key="not-priced-by-tokens")
    clock.advance(minutes=1)
    usage = kit.usage_by_model("ada", start=start, end=kit.now())
    large, small = usage.models
    assert (large.model, large.calls, large.spent, large.top_spender) == (
        "large",
        3,
        480,
        "confucius",
    )
    assert large.input_tokens == large.output_tokens == 16_000
    assert large.cost_usd == Decimal("0.48")
    assert (small.model, small.calls, small.spent, small.top_spender) == (
        "small",
        2,
        301,
        "einstein",
    )  # the commit's single token still costs one credit (rounded up)
    assert small.cost_usd == Decimal("0.300001") and usage.complete
    later = kit.usage_by_model("ada", start=kit.now(), end=kit.now() + timedelta(hours=1))
    assert later.models == ()


def test_the_insight_names_the_costliest_model_and_agent(
    kit: CreditKit, clock: ManualClock
) -> None:
    pages = cast(Pages, SimpleNamespace(kit=kit))
    assert _model_insights(pages, "ada", kit.now()) == ()
    spend(kit, "a", "small", "einstein", 100_000)
    spend(kit, "b", "large", "confucius", 20_000)
    clock.advance(minutes=1)
    (said,) = _model_insights(pages, "ada", kit.now())
    assert said == (
        "Your costliest model this week is large: 600 credits for 40,000 tokens in 1 call,"
        " most of them by your agent confucius."
    )
