"""Seed 002 (Flask DevOps agent): the behaviours its document describes that live in the
engine, on the example's own catalog."""

import importlib.util
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import pytest

from creditkit import CreditKit, InsufficientCredits, ManualClock, Money

EXAMPLE = Path(__file__).parents[2] / "examples" / "seed_002_devops_agent"
START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def agent(make_kit: Callable[..., CreditKit]) -> CreditKit:
    kit = make_kit(catalog=EXAMPLE / "catalog.yaml")
    kit.create_customer("dev")
    return kit


def _scenario() -> ModuleType:
    spec = importlib.util.spec_from_file_location("seed_002_scenario", EXAMPLE / "scenario.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_twenty_free_credits_and_chat_blocked_at_zero(agent: CreditKit) -> None:
    assert agent.balance("dev").available == 20
    for message in range(20):
        agent.charge("dev", action="chat_message", idempotency_key=f"m{message}")
    with pytest.raises(InsufficientCredits) as short:
        agent.charge("dev", action="chat_message", idempotency_key="m20")
    assert (short.value.available, short.value.required) == (0, 1)


def test_upgrade_adds_the_difference(agent: CreditKit) -> None:
    agent.charge("dev", action="chat_message", idempotency_key="m1")
    agent.change_plan("dev", "professional")
    assert agent.balance("dev").available == 19 + (1000 - 20)


def test_lazy_monthly_reset_keeps_pack_credits(agent: CreditKit, clock: ManualClock) -> None:
    agent.grant_pack("dev", "credits_250", idempotency_key="cs_1")
    agent.charge("dev", 30, idempotency_key="c1")  # 20 from the allowance, 10 from the pack
    clock.set(datetime(2026, 4, 1, 9, 0, tzinfo=UTC))
    balance = agent.balance("dev")
    assert balance.available == 20 + 240
    assert [g.source for g in balance.grants] == ["allowance", "purchase"]


def test_the_four_tiers_and_four_packs(agent: CreditKit, clock: ManualClock) -> None:
    fees = {}
    for number, tier in enumerate(["starter", "professional", "business"]):
        customer = f"buyer{number}"
        agent.create_customer(customer)
        agent.subscribe(customer, tier, collected_elsewhere=True)
        clock.advance(seconds=1)
        fees[tier] = agent.billing_lines(customer)[0].amount
    assert all(fee.currency == "USD" for fee in fees.values())
    packs = {pack: agent.grant_pack("dev", pack, idempotency_key=pack).cost_basis for pack in
             ["credits_100", "credits_250", "credits_500", "credits_1000"]}  # fmt: skip
    assert packs == {
        "credits_100": Money(1000, "USD"),
        "credits_250": Money(2000, "USD"),
        "credits_500": Money(3500, "USD"),
        "credits_1000": Money(6000, "USD"),
    }


def test_the_scenario_runs(database_url: str) -> None:
    lines: list[str] = []
    _scenario().run(database_url, say=lines.append).close()
    assert any("402" in line for line in lines)
    assert lines[-1] == "audit: ok"
