"""Seed 003 (multi-tenant B2B sales tool): the seven action costs, the unlimited plan, the
mid-period upgrade, on the example's own catalog."""

import importlib.util
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from creditkit import CreditKit, InsufficientCredits, ManualClock, Money

EXAMPLE = Path(__file__).parents[2] / "examples" / "seed_003_b2b_tenant"
COSTS = {
    "ask_anything": 2,
    "email_analysis": 3,
    "email_composer": 4,
    "daily_briefing": 5,
    "account_dossier": 8,
    "generate_playbook": 10,
    "icp_analysis": 15,
}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 2, 1, 8, 0, tzinfo=UTC))


@pytest.fixture
def sales(make_kit: Callable[..., CreditKit]) -> CreditKit:
    kit = make_kit(catalog=EXAMPLE / "catalog.yaml")
    kit.create_customer("acme", kind="workspace")
    return kit


def test_the_seven_action_costs(sales: CreditKit) -> None:
    catalog = sales.catalog
    assert catalog is not None
    assert {action.id: action.price for action in catalog.actions.values()} == COSTS
    sales.subscribe("acme", "scale", collected_elsewhere=True)
    for action, cost in COSTS.items():
        before = sales.balance("acme").available
        assert sales.charge("acme", action=action, idempotency_key=action).amount == cost
        assert sales.balance("acme").available == before - cost


def test_starter_refuses_what_it_cannot_afford(sales: CreditKit) -> None:
    sales.charge("acme", action="generate_playbook", idempotency_key="p1")
    sales.charge("acme", action="generate_playbook", idempotency_key="p2")
    with pytest.raises(InsufficientCredits) as short:
        sales.charge("acme", action="icp_analysis", idempotency_key="i1")
    assert (short.value.available, short.value.required) == (5, 15)


def test_mid_period_upgrade(sales: CreditKit, clock: ManualClock) -> None:
    sales.charge("acme", action="ask_anything", idempotency_key="a1")
    clock.advance(days=14)
    sales.change_plan("acme", "growth")
    assert sales.balance("acme").available == 23 + 475
    (line,) = sales.billing_lines("acme")
    assert line.kind == "proration"
    assert 0 < line.amount.amount_minor < 240000
    assert line.amount.currency == "USD"


def test_unlimited_plan(sales: CreditKit) -> None:
    sales.subscribe("acme", "enterprise", collected_elsewhere=True)
    for number in range(20):
        sales.charge("acme", action="icp_analysis", idempotency_key=f"i{number}")
    assert sales.balance("acme").unlimited
    assert sales.billing_lines("acme") == ()  # a custom contract: nothing billed here
    assert sales.audit().ok


def test_paid_plans_bill_their_monthly_price(sales: CreditKit) -> None:
    sales.create_customer("new", kind="workspace")
    sales.subscribe("new", "scale", collected_elsewhere=True)
    assert sales.billing_lines("new")[0].amount == Money(500000, "USD")


def test_the_scenario_runs(database_url: str) -> None:
    spec = importlib.util.spec_from_file_location("seed_003_scenario", EXAMPLE / "scenario.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    lines: list[str] = []
    module.run(database_url, say=lines.append).close()
    assert lines[-1] == "audit: ok"
