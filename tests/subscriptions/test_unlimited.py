"""An unlimited plan (seed 003's Enterprise): spending beyond the grants is issued as it is
spent, through charges and holds alike, and the ledger stays balanced."""

from collections.abc import Callable
from pathlib import Path

import pytest

from creditkit import CreditKit, InsufficientCredits

SEED_003 = Path(__file__).parents[2] / "examples" / "seed_003_b2b_tenant" / "catalog.yaml"


@pytest.fixture
def tenant(make_kit: Callable[..., CreditKit]) -> CreditKit:
    kit = make_kit(catalog=SEED_003)
    kit.create_customer("bigco", kind="workspace")
    kit.create_customer("other", kind="workspace")
    kit.subscribe("bigco", "enterprise", collected_elsewhere=True)
    return kit


def test_charges_never_run_out(tenant: CreditKit) -> None:
    balance = tenant.balance("bigco")
    assert balance.unlimited
    for number in range(5):
        tenant.charge("bigco", action="icp_analysis", quantity=10, idempotency_key=f"c{number}")
    after = tenant.balance("bigco")
    assert after.unlimited
    assert after.available == 0  # the starter allowance went first, the rest was issued
    assert tenant.audit().ok


def test_holds_commit_and_release_on_an_unlimited_plan(tenant: CreditKit) -> None:
    first = tenant.reserve("bigco", 500, idempotency_key="r1")
    tenant.commit(first.id, 320, idempotency_key="r1-c")
    second = tenant.reserve("bigco", 500, idempotency_key="r2")
    tenant.release(second.id, idempotency_key="r2-x")
    assert tenant.balance("bigco").held == 0
    assert tenant.audit().ok


def test_unlimited_credits_cannot_be_given_away(tenant: CreditKit) -> None:
    with pytest.raises(InsufficientCredits):
        tenant.transfer("bigco", "other", 1_000, idempotency_key="t1")


def test_other_plans_stay_capped(tenant: CreditKit) -> None:
    assert not tenant.balance("other").unlimited
    with pytest.raises(InsufficientCredits):
        tenant.charge("other", 10_000, idempotency_key="c1")
