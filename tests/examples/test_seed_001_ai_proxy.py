"""Seed 001 (AI image proxy): packages, 1 credit a request, no expiry, no overage, a free
trial once, and the rerunnable migration of monthly users, on the example's own catalog."""

import importlib.util
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from creditkit import CreditKit, InsufficientCredits, ManualClock, Money, PurchaseLimitReached

EXAMPLE = Path(__file__).parents[2] / "examples" / "seed_001_ai_proxy"


def _scenario() -> ModuleType:
    spec = importlib.util.spec_from_file_location("seed_001_scenario", EXAMPLE / "scenario.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def proxy(make_kit: Callable[..., CreditKit]) -> CreditKit:
    kit = make_kit(catalog=EXAMPLE / "catalog.yaml")
    kit.create_customer("user123")
    return kit


def test_the_five_packages(proxy: CreditKit) -> None:
    catalog = proxy.catalog
    assert catalog is not None
    assert {pack.id: (pack.amount, pack.price) for pack in catalog.packs.values()} == {
        "free_trial": (10, Money(0, "USD")),
        "basic": (40, Money(999, "USD")),
        "premium": (100, Money(2499, "USD")),
        "pro": (250, Money(5999, "USD")),
        "enterprise": (1000, Money(19999, "USD")),
    }


def test_one_credit_a_request_and_no_overage(proxy: CreditKit) -> None:
    proxy.grant_pack("user123", "basic", idempotency_key="pi_1")
    assert proxy.charge("user123", action="generate_image", idempotency_key="r1").amount == 1
    proxy.charge("user123", 39, idempotency_key="r2")
    with pytest.raises(InsufficientCredits):
        proxy.charge("user123", action="generate_image", idempotency_key="r3")


def test_credits_never_expire(proxy: CreditKit, clock: ManualClock) -> None:
    proxy.grant_pack("user123", "pro", idempotency_key="pi_1")
    clock.advance(days=3650)
    assert proxy.balance("user123").available == 250


def test_the_free_trial_is_once(proxy: CreditKit) -> None:
    proxy.grant_pack("user123", "free_trial", idempotency_key="t1")
    with pytest.raises(PurchaseLimitReached):
        proxy.grant_pack("user123", "free_trial", idempotency_key="t2")
    assert proxy.balance("user123").available == 10


def test_migration_is_rerunnable(proxy: CreditKit) -> None:
    scenario = _scenario()
    scenario.migrate(proxy, "old", "enterprise")
    scenario.migrate(proxy, "old", "enterprise")
    assert proxy.balance("old").available == 1000


def test_the_scenario_runs(database_url: str) -> None:
    lines: list[str] = []
    _scenario().run(database_url, say=lines.append).close()
    assert lines[-1] == "audit: ok"
