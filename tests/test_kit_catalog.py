"""CreditKit with a catalog: units come from it, charges can be priced by action."""

from collections.abc import Callable
from pathlib import Path

import pytest

from creditkit import CreditKit, InvalidRequest, Money, PurchaseLimitReached
from creditkit.catalog import UnknownAction

SEED_003 = Path(__file__).parents[1] / "examples" / "seed_003_b2b_tenant" / "catalog.yaml"


@pytest.fixture
def tenant(make_kit: Callable[..., CreditKit]) -> CreditKit:
    kit = make_kit(catalog=SEED_003)
    kit.create_customer("acme", kind="workspace")
    kit.grant("acme", 500, source="allowance", idempotency_key="g1")
    return kit


@pytest.mark.parametrize(
    ("action", "cost"),
    [
        ("ask_anything", 2),
        ("email_analysis", 3),
        ("email_composer", 4),
        ("daily_briefing", 5),
        ("account_dossier", 8),
        ("generate_playbook", 10),
        ("icp_analysis", 15),
    ],
)
def test_the_seven_action_costs(tenant: CreditKit, action: str, cost: int) -> None:
    before = tenant.balance("acme").available  # 500 granted + the default plan's allowance
    charge = tenant.charge("acme", action=action, idempotency_key="c1")
    assert (charge.amount, charge.action, charge.unit) == (cost, action, "credits")
    assert tenant.balance("acme").available == before - cost


def test_quantity_multiplies_the_price(tenant: CreditKit) -> None:
    assert (
        tenant.charge("acme", action="icp_analysis", quantity=3, idempotency_key="c1").amount == 45
    )


def test_an_explicit_amount_still_works(tenant: CreditKit) -> None:
    charge = tenant.charge("acme", 7, action="ask_anything", idempotency_key="c1")
    assert charge.amount == 7


def test_pricing_errors_name_the_field(tenant: CreditKit) -> None:
    with pytest.raises(UnknownAction):
        tenant.charge("acme", action="teleport", idempotency_key="c1")
    with pytest.raises(InvalidRequest) as refused:
        tenant.charge("acme", idempotency_key="c1")
    assert refused.value.field == "amount"
    with pytest.raises(InvalidRequest) as refused:
        tenant.charge("acme", action="ask_anything", quantity=0, idempotency_key="c1")
    assert refused.value.field == "quantity"
    with pytest.raises(InvalidRequest) as refused:
        tenant.charge("acme", 2, quantity=2, idempotency_key="c1")
    assert refused.value.field == "quantity"


def test_actions_need_a_catalog(ck: CreditKit) -> None:
    with pytest.raises(InvalidRequest) as refused:
        ck.charge("u1", action="ask_anything", idempotency_key="c1")
    assert refused.value.field == "action"


SEED_001 = Path(__file__).parents[1] / "examples" / "seed_001_ai_proxy" / "catalog.yaml"


@pytest.fixture
def proxy(make_kit: Callable[..., CreditKit]) -> CreditKit:
    kit = make_kit(catalog=SEED_001)
    kit.create_customer("user123")
    return kit


def test_a_pack_grants_its_credits_at_its_price_and_never_expires(proxy: CreditKit) -> None:
    before = proxy.balance("user123").available
    grant = proxy.grant_pack("user123", "basic", idempotency_key="checkout-1")
    assert (grant.amount, grant.source, grant.expires_at) == (40, "purchase", None)
    assert grant.cost_basis == Money(999, "USD")
    assert grant.transferable
    assert proxy.balance("user123").available == before + 40
    assert proxy.grant_pack("user123", "basic", idempotency_key="checkout-1") == grant


def test_a_once_only_pack_is_refused_the_second_time(proxy: CreditKit) -> None:
    proxy.grant_pack("user123", "free_trial", idempotency_key="trial-1")
    with pytest.raises(PurchaseLimitReached) as refused:
        proxy.grant_pack("user123", "free_trial", idempotency_key="trial-2")
    assert (refused.value.pack, refused.value.purchase_limit) == ("free_trial", 1)
    with pytest.raises(PurchaseLimitReached):  # the refusal is recorded under its key
        proxy.grant_pack("user123", "free_trial", idempotency_key="trial-2")
    assert proxy.audit().ok
